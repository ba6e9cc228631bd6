/**
 * The Job controller's plan, pure: counting through uncountedTerminatedPods, backoffLimit, the Pod backoff.
 */
import { assert, describe, it } from "@effect/vitest"
import { planJob, trackingFinalizer } from "../../../src/sandbox/controllers/jobStatus.ts"
import type { Job, Pod } from "../../../src/sandbox/controllers/kinds.ts"

describe("Job plan", () => {
  const timing = { podBackoffMillis: 10_000, podBackoffCapMillis: 360_000 }
  const job = (status: Job["status"] = {}, backoffLimit = 6): Job => ({
    metadata: { name: "j", uid: "job" },
    spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "main" }] } }, backoffLimit },
    status
  })
  const pod = (uid: string, phase: string, extra: Record<string, unknown> = {}): Pod => ({
    metadata: { uid, name: uid, finalizers: [trackingFinalizer], ...extra },
    spec: { containers: [{ name: "main" }] },
    status: { phase }
  })

  it("https://kubernetes.io/docs/concepts/workloads/controllers/job/#job-tracking-with-finalizers: a finished Pod is counted once, through uncountedTerminatedPods", () => {
    const first = planJob(job(), [pod("p1", "Failed")], 0, 0, undefined, timing)
    assert.deepStrictEqual(first.uncountedFailed, ["p1"])
    assert.strictEqual(first.failed, 1)
    const again = planJob(
      job({ uncountedTerminatedPods: { failed: ["p1"] } }),
      [pod("p1", "Failed")],
      0,
      0,
      undefined,
      timing
    )
    assert.strictEqual(again.failed, 1, "an uncounted Pod still listed is not counted twice")
    const released = planJob(
      job({ failed: 1 }),
      [{ ...pod("p1", "Failed"), metadata: { uid: "p1", name: "p1" } }],
      0,
      0,
      undefined,
      timing
    )
    assert.strictEqual(released.failed, 1, "a counted Pod without finalizer is not counted again")
    const deleted = planJob(job(), [pod("p2", "Running", { deletionTimestamp: "t" })], 0, 0, undefined, timing)
    assert.deepStrictEqual(deleted.uncountedFailed, ["p2"], "a Pod deleted before finishing counts as failed")
  })

  it("https://kubernetes.io/docs/concepts/workloads/controllers/job/#pod-backoff-failure-policy: failed > backoffLimit sets FailureTarget; the replacement waits for the backoff", () => {
    const limited = planJob(job({ failed: 1 }, 1), [pod("p2", "Failed")], 0, 0, undefined, timing)
    assert.strictEqual(limited.finish?.type, "FailureTarget")
    const waiting = planJob(job({ failed: 1 }), [], 5_000, 0, 0, timing)
    assert.isFalse(waiting.create)
    assert.strictEqual(waiting.requeueAfterMillis, 5_000)
    assert.isTrue(planJob(job({ failed: 1 }), [], 10_000, 0, 0, timing).create)
  })
})
