/**
 * R4 of the fault run (the benchmark runs the same cases through the worker process): every bad certificate,
 * on either side, is refused as `InstanceManagerTLSFailed` naming its cause, and the control gets through.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { dialInProcess, runCertificateFaults } from "../../src/sandbox/faults/certificates.ts"

describe("fault run R4: certificates", () => {
  it.live("every certificate fault is refused as InstanceManagerTLSFailed with its cause", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-r4-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
      )
      const figures = yield* runCertificateFaults({ dir, dial: dialInProcess })
      assert.deepStrictEqual(figures.failures, [])
      assert.strictEqual(figures.cases, 8)
      assert.strictEqual(figures.refusedAsInstanceManagerTLSFailed, 8)
      assert.strictEqual(figures.causeNamed, 8)
      assert.isTrue(figures.controlAccepted, JSON.stringify(figures.outcomes))
    }).pipe(Effect.scoped)
  )
})
