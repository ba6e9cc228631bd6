/**
 * The worker's progress reports written to its Backup's `status.progress` (docs/backup.md, "Live progress").
 *
 * The worker runs as the per-Backup ServiceAccount the controller created for it, whose Role allows `get` and
 * `patch` on `backups/status` of that one Backup and nothing else; the token is the Pod's own, mounted by the
 * kubelet at the standard path and re-read for every request (the kubelet rotates it). Each report is a JSON
 * merge patch of `status.progress` alone, without `resourceVersion`: it never conflicts with the controller's
 * status writes, which never touch `progress`.
 *
 * A progress write is a courtesy, never a reason to fail a backup: an API server that is slow (each request has
 * a 5 s deadline), refuses the token or is unreachable costs a Warning log line and the next report tries
 * again. Only the Kubernetes API's in-cluster address (`KUBERNETES_SERVICE_HOST`/`_PORT`) and the service-account
 * files are used; no client library is loaded (the worker's start-up stays small, docs/performance.md).
 *
 * @since 0.1.0
 */
import { readFile } from "node:fs/promises"
import { request } from "node:https"
import { Data, Effect } from "effect"
import type { BackupProgress } from "../api/backup.ts"
import { Group, Version } from "../api/common.ts"
import { nowRfc3339Millis } from "../api/time.ts"
import type { UploadProgress } from "./progress.ts"

/** Where the kubelet mounts the Pod's service-account token and the API server's CA. */
export const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

/** A progress write that did not go through (logged, never fatal). */
export class ProgressWriteFailed extends Data.TaggedError("ProgressWriteFailed")<{ readonly detail: string }> {}

/** How to reach the API server and which Backup to write to. */
export interface StatusTarget {
  readonly host: string
  readonly port: number
  readonly namespace: string
  readonly backupName: string
  /** Directory with `token` and `ca.crt` (the service-account mount). */
  readonly credentialsDir: string
}

/** The in-cluster target from the environment, or a reason it cannot be used. */
export const inClusterTarget = (
  env: Readonly<Record<string, string | undefined>>,
  namespace: string,
  backupName: string,
  credentialsDir: string = serviceAccountDir
): StatusTarget | ProgressWriteFailed => {
  const host = env.KUBERNETES_SERVICE_HOST ?? ""
  const port = Number(env.KUBERNETES_SERVICE_PORT ?? "443")
  if (host === "" || !Number.isInteger(port) || port <= 0) {
    return new ProgressWriteFailed({ detail: "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set" })
  }
  return { host, port, namespace, backupName, credentialsDir }
}

/** `status.progress` for one report. */
export const progressStatus = (
  progress: UploadProgress,
  updatedAt: string,
  estimatedTotalBytes: number | undefined
): BackupProgress => ({
  bytesStreamed: progress.bytesRead,
  bytesUploaded: progress.bytesUploaded,
  bytesPerSecond: progress.bytesPerSecond,
  elapsedSeconds: Math.floor(progress.elapsedMillis / 1000),
  ...(estimatedTotalBytes === undefined ? {} : { estimatedTotalBytes }),
  updatedAt
})

/** The Backup's status subresource path. */
export const backupStatusPath = (namespace: string, name: string): string =>
  `/apis/${Group}/${Version}/namespaces/${encodeURIComponent(namespace)}/backups/${encodeURIComponent(name)}/status`

const requestTimeoutMillis = 5_000

const mergePatch = (target: StatusTarget, body: string) =>
  Effect.tryPromise({
    try: async (signal) => {
      const [token, ca] = await Promise.all([
        readFile(`${target.credentialsDir}/token`, "utf8"),
        readFile(`${target.credentialsDir}/ca.crt`, "utf8")
      ])
      return await new Promise<void>((resolve, reject) => {
        const req = request(
          {
            host: target.host,
            port: target.port,
            method: "PATCH",
            path: backupStatusPath(target.namespace, target.backupName),
            ca,
            signal,
            timeout: requestTimeoutMillis,
            headers: {
              authorization: `Bearer ${token.trim()}`,
              "content-type": "application/merge-patch+json",
              accept: "application/json",
              "content-length": Buffer.byteLength(body)
            }
          },
          (response) => {
            const chunks: Array<Buffer> = []
            response.on("data", (chunk: Buffer) => chunks.push(chunk))
            response.on("end", () => {
              const status = response.statusCode ?? 0
              if (status >= 200 && status < 300) resolve()
              else reject(new Error(`HTTP ${status}: ${Buffer.concat(chunks).toString("utf8").slice(0, 300)}`))
            })
            response.on("error", reject)
          }
        )
        req.on("timeout", () => req.destroy(new Error(`no answer within ${requestTimeoutMillis} ms`)))
        req.on("error", reject)
        req.end(body)
      })
    },
    catch: (error) =>
      new ProgressWriteFailed({
        detail: `PATCH ${backupStatusPath(target.namespace, target.backupName)}: ${error instanceof Error ? error.message : String(error)}`
      })
  })

/** Writes one report to `status.progress`, failing with why it could not. */
export const patchProgress = (
  target: StatusTarget,
  progress: UploadProgress,
  estimatedTotalBytes: number | undefined
): Effect.Effect<void, ProgressWriteFailed> =>
  Effect.gen(function* () {
    const updatedAt = yield* nowRfc3339Millis
    const body = JSON.stringify({ status: { progress: progressStatus(progress, updatedAt, estimatedTotalBytes) } })
    yield* mergePatch(target, body)
  })

/**
 * Writes one report to `status.progress`. Never fails: a failed write is logged (with why) and the backup goes
 * on; the next report tries again.
 */
export const writeProgress = (
  target: StatusTarget,
  progress: UploadProgress,
  estimatedTotalBytes: number | undefined
): Effect.Effect<void> =>
  patchProgress(target, progress, estimatedTotalBytes).pipe(
    Effect.catch((error) =>
      Effect.logWarning("backup progress not written to status").pipe(Effect.annotateLogs({ detail: error.detail }))
    )
  )
