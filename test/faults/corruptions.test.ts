/**
 * R2 of the fault run, a deterministic subset (the benchmark runs ≥ 200): one of every kind of damage, through
 * the catalog or explicit keys, against real backups in RGW. Every restore is rejected before prepare with the
 * expected reason and leaves the data directory empty; the pristine backup then restores.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Layer, Random } from "effect"
import { corruptionKinds, runCorruptionFaults } from "../../src/sandbox/faults/corruptions.ts"
import { type FaultLab, makeFaultLab } from "../../src/sandbox/faults/lab.ts"
import { emptyBucket } from "../e2e/support.ts"
import { startRgw, uniqueBucketName } from "../support/rgw.ts"

class Lab extends Context.Service<Lab, FaultLab>()("test/faults/Lab") {}

const bucket = uniqueBucketName("r2")
const LabLive = Layer.effect(
  Lab,
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-r2-"))),
      (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
    )
    const s3 = yield* Effect.promise(() => startRgw())
    yield* Effect.addFinalizer(() => emptyBucket(bucket))
    return yield* makeFaultLab({ dir, s3, bucket, sampleBytes: 2 * 1024 * 1024 })
  }).pipe(Effect.orDie)
)

describe("fault run R2: corruptions", () => {
  layer(LabLive, { timeout: "5 minutes", excludeTestServices: true })((it) => {
    it.effect(
      "every kind of damage is rejected before prepare with its reason; the data directory stays empty",
      () =>
        Effect.gen(function* () {
          const lab = yield* Lab
          const figures = yield* runCorruptionFaults(lab, { count: corruptionKinds.length, startServer: false }).pipe(
            Random.withSeed(15)
          )
          assert.deepStrictEqual(figures.unexpected, [])
          assert.strictEqual(figures.rejected, figures.corruptions)
          assert.strictEqual(figures.rejectedWithExpectedReason, figures.corruptions)
          assert.strictEqual(figures.reachedPrepare, 0)
          assert.strictEqual(figures.dataDirNotEmpty, 0)
          assert.strictEqual(Object.keys(figures.byKind).length, corruptionKinds.length)
          assert.isTrue(figures.originalRestored)
        }),
      { timeout: 240_000 }
    )
  })
})
