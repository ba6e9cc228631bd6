/**
 * The fault-injection run: the reliability figures a database team asks for, against a real MariaDB, the real
 * processes and Ceph RGW on loopback (issue 15). Each part is one module of `src/sandbox/faults/`; the test suite
 * runs a small deterministic subset of each (`test/faults/`).
 *
 * - R1 (`kills.ts`): the worker process SIGKILLed at `FAULTS_KILLS` (default 50) kill points (5 fixed around
 *   CompleteMultipartUpload and metadata.json, the rest random byte offsets) → completed-looking backups without
 *   valid metadata (must be 0), multipart uploads left before and after the janitor process (0 after);
 * - R2 (`corruptions.ts`): `FAULTS_CORRUPTIONS` (default 204: 12 rounds of the 17 kinds) damaged archives and
 *   metadata.json → every restore rejected before prepare with the expected reason, data directory empty, then
 *   the pristine backup restores and a server starts on it with the source's checksums;
 * - R3 (`s3Faults.ts`): `FAULTS_BACKUPS` / `FAULTS_RESTORES` (default 20 / 20) through the fault proxy damaging
 *   `FAULTS_RATE` (default 0.1) of all requests → verified SHA-256 or a clean typed failure, no upload left;
 * - R4 (`certificates.ts`): 8 certificate faults dialled by the worker process → all `InstanceManagerTLSFailed`
 *   naming the cause, and a control that gets through.
 *
 * Randomness is seeded (`FAULTS_SEED`, default: drawn and printed) so a failing run can be repeated. Progress goes
 * to stderr; the last stdout line is the JSON result. Wall and CPU seconds are reported per part (the machine is
 * shared: CPU seconds of this process are less affected by other load than wall time; the worker, restore and
 * janitor processes, RGW and MariaDB are not counted in them).
 * Run: `npm run bench:faults`. `RGW_STATE_DIR` reuses a running RGW.
 */
import { randomInt } from "node:crypto"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Random } from "effect"
import { dialWorkerProcess, runCertificateFaults } from "../src/sandbox/faults/certificates.ts"
import { runCorruptionFaults } from "../src/sandbox/faults/corruptions.ts"
import { runKillFaults } from "../src/sandbox/faults/kills.ts"
import { labStoreEnv, makeFaultLab } from "../src/sandbox/faults/lab.ts"
import { runS3Faults } from "../src/sandbox/faults/s3Faults.ts"
import { launchRgw } from "../src/sandbox/rgw/rgw.ts"

const num = (name: string, fallback: number): number => {
  const value = process.env[name]
  if (value === undefined || value === "") return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: not a non-negative number: ${value}`)
  return n
}

const seed = num("FAULTS_SEED", randomInt(1, 2 ** 31))
const kills = num("FAULTS_KILLS", 50)
const corruptions = num("FAULTS_CORRUPTIONS", 204)
const backups = num("FAULTS_BACKUPS", 20)
const restores = num("FAULTS_RESTORES", 20)
const rate = num("FAULTS_RATE", 0.1)
const note = (text: string): void => {
  process.stderr.write(`${new Date().toISOString()} ${text}\n`)
}

/** Wall and CPU seconds of one part. */
const measured = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    note(`${name}: starting`)
    const wall = performance.now()
    const cpu = process.cpuUsage()
    const figures = yield* effect
    const used = process.cpuUsage(cpu)
    const seconds = {
      wallSeconds: Math.round((performance.now() - wall) / 100) / 10,
      cpuSeconds: Math.round((used.user + used.system) / 1e5) / 10
    }
    note(`${name}: done ${JSON.stringify(seconds)}`)
    return { ...figures, ...seconds }
  })

const bench = Effect.gen(function* () {
  note(`seed ${seed} (FAULTS_SEED=${seed} repeats this run)`)
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-bench-faults-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
  )
  const rgw = yield* Effect.acquireRelease(
    Effect.promise(() => launchRgw(join(dir, "rgw"), { storeGb: 12 })),
    (r) => Effect.promise(r.stop)
  )
  const lab = yield* makeFaultLab({
    dir: join(dir, "lab"),
    s3: rgw.endpoints,
    bucket: `faults-${seed}`,
    sampleBytes: 2 * 1024 * 1024
  })
  const r4 = yield* measured(
    "R4 certificates",
    runCertificateFaults({
      dir: join(dir, "r4"),
      dial: dialWorkerProcess({
        workDir: join(dir, "r4-worker"),
        storeEnv: yield* labStoreEnv(lab, lab.s3.endpoint, "r4")
      })
    })
  )
  const r1 = yield* measured("R1 kills", runKillFaults(lab, { count: kills }).pipe(Random.withSeed(seed)))
  const r2 = yield* measured(
    "R2 corruptions",
    runCorruptionFaults(lab, { count: corruptions }).pipe(Random.withSeed(seed))
  )
  const r3 = yield* measured(
    "R3 S3 faults",
    runS3Faults(lab, { backups, restores, faultRate: rate }).pipe(Random.withSeed(seed))
  )
  const { outcomes: _outcomes, ...r4Figures } = r4
  return {
    seed,
    R1: r1,
    R2: r2,
    R3: r3,
    R4: { ...r4Figures, causes: r4.outcomes.map((o) => `${o.name}: ${o.reason}: ${o.message.slice(0, 500)}`) },
    nothingLost:
      r1.completedLookingWithoutValidMetadata === 0 &&
      r1.uploadsLeftAfterJanitor === 0 &&
      r1.unexpected.length === 0 &&
      r2.rejectedWithExpectedReason === r2.corruptions &&
      r2.reachedPrepare === 0 &&
      r2.dataDirNotEmpty === 0 &&
      r2.originalRestored &&
      r3.bad === 0 &&
      r3.orphanedUploadsAfterJanitor === 0 &&
      r4.causeNamed === r4.cases &&
      r4.controlAccepted
  }
}).pipe(Effect.scoped)

const output = await Effect.runPromise(bench)
process.stdout.write(`${JSON.stringify(output)}\n`)
process.exit(output.nothingLost ? 0 : 1)
