/**
 * A throwaway single-node Ceph RGW (a real S3 implementation: it verifies SigV4 and SigV2, enforces multipart
 * rules, supports SSE-C and SSE-KMS) on loopback, for the demo, the benchmarks and the tests.
 *
 * `start.sh STATE_DIR` starts a monitor, an OSD and radosgw bound to 127.0.0.1 with all state in STATE_DIR and
 * writes `STATE_DIR/env`; `stop.sh STATE_DIR` stops them by recorded PID and removes the directory.
 *
 * @since 0.1.0
 */
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { Data, Effect, Schedule } from "effect"

/** The directory holding start.sh and stop.sh. */
export const rgwScripts = import.meta.dirname
const run = promisify(execFile)

/** Where the RGW listens and how to authenticate. */
export interface RgwEndpoints {
  readonly endpoint: string
  readonly tlsEndpoint: string
  /** PEM file of the CA that signed the https endpoint's certificate. */
  readonly caFile: string
  readonly accessKey: string
  readonly secretKey: string
  readonly region: string
  /** The key id of the testing SSE-KMS backend. */
  readonly kmsKeyId: string
}

/** The install command named in every "RGW missing" failure. */
export const rgwInstallHint =
  "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw curl openssl uuid-runtime"

/** Parse `STATE_DIR/env` as written by start.sh. */
const readRgwEnv = (stateDir: string): RgwEndpoints => {
  const file = join(stateDir, "env")
  const env = new Map(
    readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const)
  )
  const need = (name: string): string => {
    const value = env.get(name)
    if (value === undefined || value === "") throw new Error(`${file} has no ${name}`)
    return value
  }
  return {
    endpoint: need("S3_ENDPOINT"),
    tlsEndpoint: need("S3_TLS_ENDPOINT"),
    caFile: need("S3_CA_FILE"),
    accessKey: need("S3_ACCESS_KEY"),
    secretKey: need("S3_SECRET_KEY"),
    region: need("S3_REGION"),
    kmsKeyId: need("S3_KMS_KEY_ID")
  }
}

/** RGW could not be started (or another caller's start failed); `message` says why and where the logs are. */
export class RgwStartFailed extends Data.TaggedError("RgwStartFailed")<{ readonly message: string }> {}

const lockWait = "180 seconds"

/**
 * Run start.sh in `stateDir` unless it already ran; only one caller at a time (mkdir is atomic): the others
 * retry the lock every 100 ms, for at most 180 s.
 */
export const ensureRgwStarted = (stateDir: string): Effect.Effect<RgwEndpoints, RgwStartFailed> => {
  const lock = `${stateDir}.lock`
  const failed = join(stateDir, "start-failed")
  const acquire = Effect.try({
    try: () => mkdirSync(lock),
    catch: () => new RgwStartFailed({ message: `timed out waiting for ${lock}` })
  }).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: lockWait })) }))
  return Effect.acquireUseRelease(
    acquire,
    () =>
      Effect.tryPromise({
        try: () => startOnce(stateDir, failed),
        catch: (error) => new RgwStartFailed({ message: error instanceof Error ? error.message : String(error) })
      }),
    () => Effect.sync(() => rmdirSync(lock))
  )
}

/** With the lock held: the recorded failure of an earlier start, or the endpoints, starting RGW if needed. */
const startOnce = async (stateDir: string, failed: string): Promise<RgwEndpoints> => {
  if (existsSync(failed)) throw new Error(readFileSync(failed, "utf8"))
  if (!existsSync(join(stateDir, "env"))) {
    const start = () => run(join(rgwScripts, "start.sh"), [stateDir], { timeout: 150_000 })
    try {
      await start().catch(async () => {
        // one more try from scratch: a start can lose a port to another process between picking and binding
        await run(join(rgwScripts, "stop.sh"), [stateDir], { timeout: 90_000 }).catch(() => undefined)
        mkdirSync(stateDir, { recursive: true })
        return start()
      })
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string }
      const message = `RGW failed to start twice (logs in ${stateDir}/log): ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`
      writeFileSync(failed, message)
      throw new Error(message)
    }
  }
  return readRgwEnv(stateDir)
}

/** An RGW this process started (or joined), and how to stop it. */
export interface LaunchedRgw {
  readonly endpoints: RgwEndpoints
  readonly stateDir: string
  /** Stops the daemons by recorded PID and removes `stateDir`; a no-op for a joined RGW. */
  readonly stop: () => Promise<void>
}

/**
 * Starts an RGW with its state in `stateDir` (`storeGb`: BlueStore size), or joins the one `RGW_STATE_DIR`
 * points at, which is left running (fast local iterations). A start that fails stops what it started and keeps
 * the logs.
 */
export const launchRgw = async (
  stateDir: string,
  options: { readonly storeGb?: number } = {}
): Promise<LaunchedRgw> => {
  const reuse = process.env.RGW_STATE_DIR
  if (reuse !== undefined && existsSync(join(reuse, "env"))) {
    return { endpoints: readRgwEnv(reuse), stateDir: reuse, stop: async () => undefined }
  }
  const stop = (...flags: ReadonlyArray<string>) =>
    run(join(rgwScripts, "stop.sh"), [stateDir, ...flags], { timeout: 120_000 }).then(
      () => undefined,
      () => undefined
    )
  try {
    await run(join(rgwScripts, "start.sh"), [stateDir], {
      timeout: 180_000,
      env: { ...process.env, ...(options.storeGb === undefined ? {} : { STORE_GB: String(options.storeGb) }) }
    })
  } catch (error) {
    await stop("--keep")
    throw new Error(
      `RGW failed to start (logs in ${stateDir}/log): ${error instanceof Error ? error.message : String(error)}`
    )
  }
  return { endpoints: readRgwEnv(stateDir), stateDir, stop }
}
