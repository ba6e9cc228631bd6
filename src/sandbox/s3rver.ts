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
import { Data, Effect, Redacted, type Scope } from "effect"
import type { ObjectStoreConnection } from "../objectstore/connection.ts"
import { waitUntilReady } from "../platform/waitUntil.ts"
import { freePort } from "./ports.ts"

/** s3rver exited, or did not accept connections within 15 s; `message` has its stderr. */
export class S3rverStartFailed extends Data.TaggedError("S3rverStartFailed")<{ readonly message: string }> {}

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

const accepts = (port: number): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
    return Effect.sync(() => socket.destroy())
  })

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

/** Start s3rver with `bucket` (default `backups`) created; `stop` ends it (the caller owns it). */
export const startS3rver = (options: { readonly bucket?: string } = {}): Effect.Effect<S3rver, S3rverStartFailed> =>
  Effect.gen(function* () {
    const bucket = options.bucket ?? "backups"
    const directory = mkdtempSync(join(tmpdir(), "s3rver-"))
    const port = yield* freePort
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
    const notStarted = () =>
      Effect.andThen(
        Effect.promise(stop),
        Effect.fail(new S3rverStartFailed({ message: `s3rver did not start on port ${port}: ${stderr}` }))
      )
    yield* waitUntilReady({
      probe: accepts(port),
      exited: () => pid === undefined || child.exitCode !== null,
      interval: "50 millis",
      timeout: "15 seconds",
      onExited: notStarted,
      onTimeout: notStarted
    })
    return {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      accessKey: "S3RVER",
      secretKey: "S3RVER",
      pid: pid ?? 0,
      directory,
      stop
    } satisfies S3rver
  })

/** s3rver as a scoped resource: stopped with the scope. */
export const s3rver = (
  options: { readonly bucket?: string } = {}
): Effect.Effect<S3rver, S3rverStartFailed, Scope.Scope> =>
  Effect.acquireRelease(startS3rver(options), (server) => Effect.promise(() => server.stop()))

/** The live S3 client's connection to `store` (the Secret references are placeholders: the keys are given). */
export const s3rverConnection = (store: S3rver): ObjectStoreConnection => ({
  spec: {
    bucket: store.bucket,
    endpoint: store.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: { name: "s", key: "a" }, secretAccessKey: { name: "s", key: "b" } }
  },
  credentials: { accessKeyId: Redacted.make(store.accessKey), secretAccessKey: Redacted.make(store.secretKey) }
})
