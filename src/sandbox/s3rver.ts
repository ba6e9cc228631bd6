/**
 * s3rver (the npm fake S3) as a child process for fast functional tests: loopback, a random free port,
 * data in a temp dir, one bucket pre-created, stopped by PID.
 *
 * Run in a child process because a CompleteMultipartUpload naming a missing part crashes s3rver with an
 * unhandled stream error, and with `--openssl-legacy-provider` (via NODE_OPTIONS) because its
 * ListObjectsV2 continuation tokens use DES, which Node ≥ 17 refuses otherwise (500 on page 2).
 * Not for auth, abort, part-size or SSE checks: s3rver does not verify SigV4, does not implement
 * AbortMultipartUpload, and accepts parts of any size (docs/measurements.md, "s3rver").
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { createConnection } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { freePortAsync } from "./ports.ts"
import { sleepMillis, wallClockMillis } from "./wallClock.ts"

/** A running s3rver. */
export interface S3rver {
  readonly endpoint: string
  readonly bucket: string
  /** s3rver's hard-coded key pair. */
  readonly accessKey: "S3RVER"
  readonly secretKey: "S3RVER"
  readonly pid: number
  readonly directory: string
  readonly stop: () => Promise<void>
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

/** Start s3rver with `bucket` (default `backups`) created. */
export const startS3rver = async (options: { readonly bucket?: string } = {}): Promise<S3rver> => {
  const bucket = options.bucket ?? "backups"
  const directory = mkdtempSync(join(tmpdir(), "s3rver-"))
  const port = await freePortAsync()
  const bin = createRequire(import.meta.url).resolve("s3rver/bin/s3rver.js")
  const child = spawn(
    process.execPath,
    [bin, "-d", directory, "-a", "127.0.0.1", "-p", String(port), "-s", "--configure-bucket", bucket],
    {
      env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --openssl-legacy-provider`.trim() },
      stdio: ["ignore", "ignore", "pipe"]
    }
  )
  let stderr = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = `${stderr}${chunk.toString("utf8")}`.slice(-4000)
  })
  const pid = child.pid
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
    await exited(child)
    rmSync(directory, { recursive: true, force: true })
  }
  const deadline = wallClockMillis() + 15_000
  while (!(await accepts(port))) {
    if (pid === undefined || child.exitCode !== null || wallClockMillis() > deadline) {
      await stop()
      throw new Error(`s3rver did not start on port ${port}: ${stderr}`)
    }
    await sleepMillis(50)
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    accessKey: "S3RVER",
    secretKey: "S3RVER",
    pid: pid ?? 0,
    directory,
    stop
  }
}

/** s3rver as a scoped resource: stopped with the scope. */
export const s3rver = (options: { readonly bucket?: string } = {}): Effect.Effect<S3rver, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startS3rver(options)),
    (server) => Effect.promise(() => server.stop())
  )
