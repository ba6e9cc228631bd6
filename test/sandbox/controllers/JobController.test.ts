/**
 * Job controller conformance: the sandbox's Job controller against the fake API server's HTTP face, with the
 * test playing the kubelet. Each test cites the Kubernetes page whose behaviour it checks.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { KubeApi } from "../../../src/kube/KubeApi.ts"
import { type Job, Kinds } from "../../../src/sandbox/controllers/kinds.ts"
import { controllerTest, eventually, kubectl, podExited, podRunning, podsIn } from "./support.ts"

const JOBS = "https://kubernetes.io/docs/concepts/workloads/controllers/job/"

const job = (name: string, spec: Partial<NonNullable<Job["spec"]>> = {}, restartPolicy = "Never"): Job => ({
  metadata: { namespace: "default", name },
  spec: {
    template: {
      metadata: { labels: { app: "worker" } },
      spec: { restartPolicy, containers: [{ name: "main", image: "ghcr.io/cloudnative-mysql/operator:dev" }] }
    },
    ...spec
  }
})

const getJob = (name: string) => Effect.flatMap(KubeApi, (api) => api.get(Kinds.jobs, { namespace: "default", name }))

const conditionTypes = (value: Job) => (value.status?.conditions ?? []).map((condition) => condition.type)

const onePod = (name: string, exclude: ReadonlyArray<string> = []) =>
  eventually(
    `a Pod of ${name}`,
    Effect.map(podsIn("default", `job-name=${name}`), (pods) =>
      pods.find((pod) => !exclude.includes(pod.metadata.name ?? "") && pod.metadata.deletionTimestamp === undefined)
    )
  )

describe("Job controller", () => {
  it.live(
    `${JOBS}: one Pod from spec.template (generated name, job labels, controller owner, tracking finalizer)`,
    () =>
      controllerTest(() =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const created = yield* api.create(Kinds.jobs, job("backup"))
          const pod = yield* onePod("backup")
          assert.match(pod.metadata.name ?? "", /^backup-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
          const uid = created.metadata.uid ?? ""
          assert.deepInclude(pod.metadata.labels ?? {}, {
            app: "worker",
            "controller-uid": uid,
            "job-name": "backup",
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": "backup"
          })
          assert.deepStrictEqual(pod.metadata.ownerReferences, [
            { apiVersion: "batch/v1", kind: "Job", name: "backup", uid, controller: true, blockOwnerDeletion: true }
          ])
          assert.deepStrictEqual(pod.metadata.finalizers, ["batch.kubernetes.io/job-tracking"])
          assert.strictEqual(pod.spec?.restartPolicy, "Never")
          const running = yield* eventually(
            "status.active",
            Effect.map(getJob("backup"), (value) => (value.status?.active === 1 ? value : undefined))
          )
          assert.isString(running.status?.startTime)
          yield* Effect.sleep("300 millis")
          assert.strictEqual((yield* podsIn("default", "job-name=backup")).length, 1, "parallelism 1: one Pod only")
        })
      )
  )

  it.live(
    `${JOBS}#job-termination-and-cleanup: success writes SuccessCriteriaMet then Complete; kubectl wait --for=condition=complete`,
    () =>
      controllerTest(() =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          yield* api.create(Kinds.jobs, job("done"))
          const pod = yield* onePod("done")
          yield* podRunning(pod)
          yield* eventually(
            "ready 1",
            Effect.map(getJob("done"), (value) => (value.status?.ready === 1 ? true : undefined))
          )
          const waiting = yield* Effect.forkChild(
            kubectl("wait", "--for=condition=complete", "job/done", "--timeout=20s")
          )
          yield* podExited(pod, 0)
          const run = yield* Fiber.join(waiting)
          assert.strictEqual(run.code, 0, run.stderr)
          assert.match(run.stdout, /job.batch\/done condition met/)
          const done = yield* getJob("done")
          assert.deepStrictEqual(conditionTypes(done), ["SuccessCriteriaMet", "Complete"])
          assert.deepInclude(done.status ?? {}, { succeeded: 1, failed: 0, active: 0, ready: 0, terminating: 0 })
          assert.deepStrictEqual(done.status?.uncountedTerminatedPods, {})
          assert.isString(done.status?.completionTime)
          assert.strictEqual(done.status?.conditions?.[1]?.reason, "CompletionsReached")
          const counted = yield* api.get(Kinds.pods, { namespace: "default", name: pod.metadata.name ?? "" })
          assert.deepStrictEqual(counted.metadata.finalizers ?? [], [], "the counted Pod loses the tracking finalizer")
        })
      )
  )

  it.live(`${JOBS}#pod-backoff-failure-policy: a Job failing past backoffLimit is Failed (BackoffLimitExceeded)`, () =>
    controllerTest(() =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        yield* api.create(Kinds.jobs, job("flaky", { backoffLimit: 1 }))
        const first = yield* onePod("flaky")
        yield* podExited(first, 1)
        const second = yield* onePod("flaky", [first.metadata.name ?? ""])
        const retried = yield* getJob("flaky")
        assert.strictEqual(retried.status?.failed, 1)
        assert.deepStrictEqual(conditionTypes(retried), [])
        const waiting = yield* Effect.forkChild(kubectl("wait", "--for=condition=failed", "job/flaky", "--timeout=20s"))
        yield* podExited(second, 2)
        const run = yield* Fiber.join(waiting)
        assert.strictEqual(run.code, 0, run.stderr)
        const failed = yield* getJob("flaky")
        assert.deepStrictEqual(conditionTypes(failed), ["FailureTarget", "Failed"])
        assert.strictEqual(failed.status?.conditions?.[1]?.reason, "BackoffLimitExceeded")
        assert.strictEqual(failed.status?.failed, 2)
        assert.isUndefined(failed.status?.completionTime)
        yield* Effect.sleep("300 millis")
        assert.strictEqual((yield* podsIn("default", "job-name=flaky")).length, 2, "no third Pod")
        const described = yield* kubectl("describe", "job", "flaky")
        assert.match(described.stdout, /Warning\s+BackoffLimitExceeded\s+.*Job has reached the specified backoff limit/)
      })
    )
  )

  it.live(
    `${JOBS}#job-termination-and-cleanup: activeDeadlineSeconds terminates the running Pod, then Failed (DeadlineExceeded)`,
    () =>
      controllerTest(() =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          // long enough that the Pod exists before the deadline on a loaded machine (at 1 s, a controller that
          // took a second to create it failed the Job without a Pod, and the test waited for one in vain)
          yield* api.create(Kinds.jobs, job("slow", { activeDeadlineSeconds: 4, backoffLimit: 5 }))
          const pod = yield* onePod("slow")
          yield* podRunning(pod)
          const target = yield* eventually(
            "FailureTarget",
            Effect.map(getJob("slow"), (value) => (conditionTypes(value).includes("Failed") ? value : undefined))
          )
          assert.deepStrictEqual(conditionTypes(target), ["FailureTarget", "Failed"])
          assert.strictEqual(target.status?.conditions?.[0]?.reason, "DeadlineExceeded")
          assert.strictEqual(target.status?.conditions?.[1]?.message, "Job was active longer than specified deadline")
          assert.strictEqual(target.status?.failed, 1, "the terminated Pod counts as failed")
          assert.strictEqual(target.status?.active, 0)
          const left = yield* podsIn("default", "job-name=slow")
          assert.deepStrictEqual(left, [], "the running Pod was deleted")
        })
      )
  )

  it.live(
    `${JOBS}#handling-pod-and-container-failures: restartPolicy OnFailure counts container restarts against backoffLimit`,
    () =>
      controllerTest(() =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          yield* api.create(Kinds.jobs, job("restarts", { backoffLimit: 2 }, "OnFailure"))
          const pod = yield* onePod("restarts")
          yield* api.patchStatus(
            Kinds.pods,
            { namespace: "default", name: pod.metadata.name ?? "" },
            {
              status: { phase: "Running", containerStatuses: [{ name: "main", ready: false, restartCount: 2 }] }
            }
          )
          const failed = yield* eventually(
            "Failed",
            Effect.map(getJob("restarts"), (value) => (conditionTypes(value).includes("Failed") ? value : undefined))
          )
          assert.strictEqual(failed.status?.conditions?.[1]?.reason, "BackoffLimitExceeded")
        })
      )
  )

  it.live(
    "https://kubernetes.io/docs/concepts/workloads/controllers/ttlafterfinished/: ttlSecondsAfterFinished deletes the Job with its Pods",
    () =>
      controllerTest(() =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          yield* api.create(Kinds.jobs, job("short-lived", { ttlSecondsAfterFinished: 1 }))
          const pod = yield* onePod("short-lived")
          yield* podExited(pod, 0)
          yield* eventually(
            "Complete",
            Effect.map(getJob("short-lived"), (value) =>
              conditionTypes(value).includes("Complete") ? true : undefined
            )
          )
          yield* eventually(
            "the Job deleted",
            Effect.map(Effect.result(getJob("short-lived")), (result) =>
              result._tag === "Failure" && result.failure._tag === "NotFound" ? true : undefined
            )
          )
          assert.deepStrictEqual(yield* podsIn("default", "job-name=short-lived"), [])
        })
      )
  )
})
