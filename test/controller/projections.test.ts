/**
 * The caches' projections (`src/controller/projections.ts`) keep what the reconcilers decide from: over random
 * backup Jobs and Pods (every condition, finalizer, deletion and container state a decision turns on, plus the
 * fields the projection drops), the Backup decision on the cached objects is the decision on the full ones, and
 * the janitor's cleanup Job for a failed or deleted Job renders the same from the cached Job.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import type { Backup } from "../../src/api/backup.ts"
import type { Cluster } from "../../src/api/cluster.ts"
import { finalizers } from "../../src/api/names.ts"
import type { ObjectStore } from "../../src/api/objectStore.ts"
import { type BackupDecision, decide } from "../../src/controller/backup/decide.ts"
import type { BackupObservation } from "../../src/controller/backup/observe.ts"
import { backupContainerName, renderBackupJob, renderCleanupJob } from "../../src/controller/backup/render.ts"
import { objectStoreVolumeName } from "../../src/controller/objectStoreAccess.ts"
import {
  compacted,
  jobForCache,
  lastAppliedAnnotation,
  podForCache,
  StringTable,
  withoutBookkeeping
} from "../../src/controller/projections.ts"
import type { Job, Pod } from "../../src/kube/resources.ts"
import { backupObject, clusterObject, healthyInstances, objectStore, workerResult } from "./support.ts"

const now = Date.parse("2026-12-01T10:20:30Z")
const strings = new StringTable(64)
const cached = <A>(object: A, project: (a: A) => A): A => compacted(project(object), strings)

const cluster: Cluster = {
  ...clusterObject("c"),
  metadata: { ...clusterObject("c").metadata, uid: "cluster-uid", resourceVersion: "3" },
  status: { currentPrimary: "c-1", instanceStatuses: healthyInstances }
}

const Knobs = Schema.Struct({
  backupPhase: Schema.Literals(["none", "pending", "running", "completed"]),
  lastApplied: Schema.Boolean,
  jobCondition: Schema.Literals(["none", "Complete", "Failed", "CompleteFalse"]),
  interim: Schema.Boolean,
  finalizer: Schema.Boolean,
  terminating: Schema.Boolean,
  active: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1 })),
  completedAgoSeconds: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 120 })),
  pods: Schema.Array(
    Schema.Struct({
      phase: Schema.Literals(["Pending", "Running", "Succeeded", "Failed"]),
      state: Schema.Literals(["none", "unstartable", "creating", "running", "result", "failure", "garbage", "bare"]),
      ready: Schema.Boolean,
      deleting: Schema.Boolean,
      ageSeconds: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1000 }))
    })
  ).check(Schema.isMaxLength(3)),
  cleanup: Schema.Literals(["none", "running", "Complete", "Failed"])
})
type Knobs = typeof Knobs.Type

const time = (millis: number) => new Date(millis).toISOString().replace(/\.\d{3}Z$/u, "Z")

const backupOf = (knobs: Knobs): Backup => {
  const base = backupObject("nightly")
  const status =
    knobs.backupPhase === "none"
      ? undefined
      : { phase: knobs.backupPhase, backupId: "20261201T102030Z", jobName: "nightly-backup" }
  return {
    ...base,
    metadata: {
      ...base.metadata,
      uid: "backup-uid",
      generation: 1,
      resourceVersion: "5",
      ...(knobs.lastApplied ? { annotations: { [lastAppliedAnnotation]: JSON.stringify(base) } } : {})
    },
    ...(status === undefined ? {} : { status })
  } as Backup
}

const jobOf = (knobs: Knobs, backup: Backup, store: ObjectStore): Job => {
  const rendered = renderBackupJob({
    backup,
    cluster,
    backupId: "20261201T102030Z",
    instanceName: "c-2",
    podIP: "127.0.10.2",
    objectStore: store,
    prefix: "prod/c/nightly/20261201T102030Z/"
  })
  const completedAt = time(now - knobs.completedAgoSeconds * 1000)
  const terminal =
    knobs.jobCondition === "none"
      ? []
      : [
          {
            type: knobs.jobCondition === "Failed" ? "Failed" : "Complete",
            status: knobs.jobCondition === "CompleteFalse" ? "False" : "True",
            reason: knobs.jobCondition === "Failed" ? "BackoffLimitExceeded" : "CompletionsReached",
            message: "Reached expected number of succeeded pods",
            lastProbeTime: completedAt,
            lastTransitionTime: completedAt
          }
        ]
  const interim = knobs.interim
    ? [{ type: knobs.jobCondition === "Failed" ? "FailureTarget" : "SuccessCriteriaMet", status: "True" }]
    : []
  return {
    ...rendered,
    metadata: {
      ...rendered.metadata,
      uid: "job-uid",
      resourceVersion: "7",
      creationTimestamp: time(now - 600_000),
      finalizers: knobs.finalizer ? [finalizers.abortUploads] : [],
      ...(knobs.terminating ? { deletionTimestamp: time(now - 1000) } : {}),
      managedFields: [{ manager: "kube-controller-manager", operation: "Update" }]
    } as Job["metadata"],
    spec: {
      ...rendered.spec,
      selector: { matchLabels: { "batch.kubernetes.io/controller-uid": "job-uid" } }
    } as Job["spec"],
    status: {
      active: knobs.active,
      ready: knobs.active,
      startTime: time(now - 300_000),
      ...(knobs.jobCondition === "Complete" ? { completionTime: completedAt, succeeded: 1 } : {}),
      ...(knobs.jobCondition === "Failed" ? { failed: 3 } : {}),
      uncountedTerminatedPods: {},
      conditions: [...interim, ...terminal]
    }
  } as Job
}

const stateOf = (state: Knobs["pods"][number]["state"]) => {
  const terminated = (message: string | undefined, exitCode: number) => ({
    terminated: {
      exitCode,
      reason: exitCode === 0 ? "Completed" : "Error",
      ...(message === undefined ? {} : { message }),
      startedAt: time(now - 200_000),
      finishedAt: time(now - 100_000),
      containerID: "containerd://abc"
    }
  })
  switch (state) {
    case "none":
      return undefined
    case "unstartable":
      return { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } }
    case "creating":
      return { waiting: { reason: "ContainerCreating" } }
    case "running":
      return { running: { startedAt: time(now - 200_000) } }
    case "result":
      return terminated(JSON.stringify(workerResult("20261201T102030Z")), 0)
    case "failure":
      return terminated(JSON.stringify({ reason: "ObjectStoreDenied", message: "403 from the object store" }), 1)
    case "garbage":
      return terminated("not json", 1)
    case "bare":
      return terminated(undefined, 137)
  }
}

const podOf = (knobs: Knobs["pods"][number], i: number, owner: Job): Pod => {
  const state = stateOf(knobs.state)
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `${owner.metadata.name ?? ""}-${i}`,
      namespace: "db",
      uid: `pod-${i}`,
      resourceVersion: `${10 + i}`,
      creationTimestamp: time(now - knobs.ageSeconds * 1000),
      labels: { ...owner.metadata.labels },
      ownerReferences: [
        { apiVersion: "batch/v1", kind: "Job", name: owner.metadata.name ?? "", uid: "job-uid", controller: true }
      ],
      ...(knobs.deleting ? { deletionTimestamp: time(now - 500) } : {})
    },
    spec: { containers: [{ name: backupContainerName, image: "worker" }] },
    status: {
      phase: knobs.phase,
      podIP: "10.0.0.9",
      hostIP: "10.1.0.1",
      qosClass: "Burstable",
      startTime: time(now - 250_000),
      conditions: [
        { type: "PodReadyToStartContainers", status: knobs.ready ? "True" : "False", lastTransitionTime: time(now) },
        { type: "Ready", status: "False", reason: "PodCompleted" }
      ],
      containerStatuses: [
        {
          name: backupContainerName,
          image: "worker",
          imageID: "sha256:abc",
          ready: false,
          restartCount: 2,
          started: false,
          lastState: { terminated: { exitCode: 1, reason: "Error" } },
          ...(state === undefined ? {} : { state })
        }
      ],
      initContainerStatuses: [{ name: "init", ready: true, restartCount: 0, state: { terminated: { exitCode: 0 } } }]
    }
  } as unknown as Pod
}

const cleanupOf = (knobs: Knobs, job: Job, backup: Backup): Job | undefined => {
  if (knobs.cleanup === "none") return undefined
  const rendered = renderCleanupJob(job, backup)
  return {
    ...rendered,
    metadata: { ...rendered.metadata, uid: "cleanup-uid", resourceVersion: "9" },
    status:
      knobs.cleanup === "running"
        ? { active: 1 }
        : { conditions: [{ type: knobs.cleanup, status: "True", message: "the cleanup Job's condition" }] }
  } as Job
}

/** A decision as the reconciler acts on it: a finalizer removal patches the Job's name, version and finalizers. */
const acted = (decision: BackupDecision) => ({
  ...decision,
  actions: decision.actions.map((action) =>
    action._tag === "RemoveFinalizer"
      ? {
          _tag: action._tag,
          namespace: action.job.metadata.namespace,
          name: action.job.metadata.name,
          resourceVersion: action.job.metadata.resourceVersion,
          finalizers: action.job.metadata.finalizers
        }
      : action
  )
})

describe("the caches' projections", () => {
  it.prop(
    "the Backup decision on cached Jobs, Pods and Backups is the decision on the full objects",
    { knobs: Knobs, everySecret: Schema.Boolean },
    ({ knobs, everySecret }) => {
      const store: ObjectStore = everySecret
        ? {
            ...(objectStore as ObjectStore),
            credentials: {
              accessKeyId: { name: "keys", key: "id" },
              secretAccessKey: { name: "other-keys", key: "secret" },
              sessionToken: { name: "token", key: "t" }
            }
          }
        : (objectStore as ObjectStore)
      const backup = backupOf(knobs)
      const job = jobOf(knobs, backup, store)
      const pods = knobs.pods.map((pod, i) => podOf(pod, i, job))
      const cleanupJob = cleanupOf(knobs, job, backup)
      const cleanupPods =
        cleanupJob === undefined ? [] : knobs.pods.slice(0, 1).map((pod, i) => podOf(pod, i, cleanupJob))
      const full: BackupObservation = {
        key: "db/nightly",
        backup,
        cluster,
        job,
        jobPods: pods,
        cleanupJob,
        cleanupPods
      }
      const projected: BackupObservation = {
        key: "db/nightly",
        backup: cached(backup, withoutBookkeeping),
        cluster: cached(cluster, withoutBookkeeping),
        job: cached(job, jobForCache),
        jobPods: pods.map((pod) => cached(pod, podForCache)),
        cleanupJob: cleanupJob === undefined ? undefined : cached(cleanupJob, jobForCache),
        cleanupPods: cleanupPods.map((pod) => cached(pod, podForCache))
      }
      assert.deepStrictEqual(acted(decide(projected, now)), acted(decide(full, now)))
      // what the secret wait reads of a Job that has not finished: its template's object-store volume
      const unfinished = knobs.jobCondition === "none" || knobs.jobCondition === "CompleteFalse"
      if (unfinished) {
        const volumes = (j: Job | undefined) =>
          (j?.spec?.template.spec?.volumes ?? []) as ReadonlyArray<{ readonly name: string }>
        assert.deepStrictEqual(
          volumes(projected.job),
          volumes(job).filter((v) => v.name === objectStoreVolumeName)
        )
        assert.isNotEmpty(volumes(projected.job))
      }
    }
  )

  it("the janitor's cleanup Job for a failed or deleted backup Job renders from the cached Job", () => {
    const backup = backupOf({
      backupPhase: "running",
      lastApplied: false,
      jobCondition: "none",
      interim: false,
      finalizer: true,
      terminating: false,
      active: 0,
      completedAgoSeconds: 0,
      pods: [],
      cleanup: "none"
    })
    for (const [jobCondition, terminating] of [
      ["Failed", false],
      ["none", true],
      ["Failed", true]
    ] as const) {
      const knobs: Knobs = {
        backupPhase: "running",
        lastApplied: false,
        jobCondition,
        interim: true,
        finalizer: true,
        terminating,
        active: 0,
        completedAgoSeconds: 10,
        pods: [{ phase: "Failed", state: "failure", ready: true, deleting: false, ageSeconds: 100 }],
        cleanup: "none"
      }
      const job = jobOf(knobs, backup, objectStore as ObjectStore)
      const projected = cached(job, jobForCache)
      assert.isBelow(JSON.stringify(projected).length, JSON.stringify(job).length / 2)
      for (const owner of [backup, undefined]) {
        const cleanup = renderCleanupJob(projected, owner)
        assert.deepStrictEqual(cleanup, renderCleanupJob(job, owner))
        assert.strictEqual(cleanup.spec?.template.spec?.containers[0]?.image, cluster.spec.imageName)
      }
      const pods = knobs.pods.map((pod, i) => podOf(pod, i, job))
      const decision = decide(
        {
          key: "db/nightly",
          backup,
          cluster,
          job: projected,
          jobPods: pods.map((p) => cached(p, podForCache)),
          cleanupJob: undefined,
          cleanupPods: []
        },
        now
      )
      const created = decision.actions.find((action) => action._tag === "CreateJob")
      assert.deepStrictEqual(created, { _tag: "CreateJob", job: renderCleanupJob(job, backup) })
    }
  })

  it("a completed Job, or one finished without the abort-uploads finalizer, keeps no template", () => {
    const knobs: Knobs = {
      backupPhase: "running",
      lastApplied: false,
      jobCondition: "Complete",
      interim: true,
      finalizer: true,
      terminating: false,
      active: 0,
      completedAgoSeconds: 10,
      pods: [],
      cleanup: "none"
    }
    const backup = backupOf(knobs)
    for (const variant of [knobs, { ...knobs, jobCondition: "Failed", finalizer: false } as const]) {
      const projected = jobForCache(jobOf(variant, backup, objectStore as ObjectStore))
      assert.isUndefined(projected.spec)
      assert.deepStrictEqual(
        projected.status?.conditions?.map((c) => c.type),
        [variant.jobCondition]
      )
    }
  })

  it("an object laid out through the string table is the same JSON value, past a generation's end", () => {
    const table = new StringTable(2)
    const object = {
      metadata: { namespace: "db", uid: "u-1", resourceVersion: "4", labels: { app: "cloudnative-mysql" } },
      items: ["db", "db", 1, true, null, { nested: "cloudnative-mysql" }],
      long: "x".repeat(500)
    }
    for (let round = 0; round < 3; round++) assert.deepStrictEqual(compacted(object, table), object)
  })
})
