/**
 * Node conformance with the sandbox's Job controller: Jobs whose Pods the node runs for real, observed as a user
 * would with `kubectl wait --for=condition=complete|failed`.
 * https://kubernetes.io/docs/concepts/workloads/controllers/job/
 * https://kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { apply, getJson, kubectl, nodeTestSandbox, operatorImage } from "./support.ts"

const job = (name: string, script: string, spec: object = {}) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name },
  spec: {
    backoffLimit: 0,
    ...spec,
    template: {
      spec: {
        restartPolicy: "Never",
        containers: [{ name: "main", image: operatorImage, command: ["sh", "-c", script] }]
      }
    }
  }
})

describe("node: Jobs", () => {
  layer(nodeTestSandbox(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("a Job runs to Complete; its Pod's termination message is in the Pod status", () =>
      Effect.gen(function* () {
        yield* apply(
          job("job-ok", "cloudnative-mysql --help > /dev/null && printf '{\"ok\":true}' > /dev/termination-log")
        )
        const wait = yield* kubectl(["wait", "--for=condition=complete", "job/job-ok", "--timeout=40s"])
        assert.strictEqual(wait.code, 0, wait.stderr)
        const pods = yield* kubectl(["get", "pods", "-l", "job-name=job-ok", "-o", "json"])
        const items = JSON.parse(pods.stdout).items
        assert.strictEqual(items.length, 1)
        assert.strictEqual(items[0].status.phase, "Succeeded")
        assert.strictEqual(items[0].status.containerStatuses[0].state.terminated.message, '{"ok":true}')
        const status = (yield* getJson("job", "job-ok")).status
        assert.strictEqual(status.succeeded, 1)
        yield* kubectl(["delete", "job", "job-ok", "--cascade=background"])
      })
    )

    it.effect("a Job whose Pods keep failing fails past backoffLimit (BackoffLimitExceeded)", () =>
      Effect.gen(function* () {
        yield* apply(job("job-fail", "echo failing; exit 5", { backoffLimit: 1 }))
        const wait = yield* kubectl(["wait", "--for=condition=failed", "job/job-fail", "--timeout=40s"])
        assert.strictEqual(wait.code, 0, wait.stderr)
        const failed = yield* getJson("job", "job-fail")
        assert.strictEqual(failed.status.failed, 2)
        const condition = failed.status.conditions.find((item: { type: string }) => item.type === "Failed")
        assert.strictEqual(condition.reason, "BackoffLimitExceeded")
        const pods = yield* kubectl([
          "get",
          "pods",
          "-l",
          "job-name=job-fail",
          "-o",
          "jsonpath={.items[*].status.containerStatuses[0].state.terminated.exitCode}"
        ])
        assert.strictEqual(pods.stdout, "5 5")
        yield* kubectl(["delete", "job", "job-fail", "--cascade=background"])
      })
    )
  })
})
