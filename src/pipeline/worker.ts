/**
 * `cloudnative-mysql backup`: the backup worker, run once per Backup as a Kubernetes Job (docs/worker.md).
 *
 * It asks one instance manager for a backup over mutual TLS (`GET /cluster/backup`), pipes the response body
 * through the upload pipeline (SHA-256 + multipart upload), completes the upload **only after the trailers
 * report that the tool exited 0** (`completed OK!`), then writes `metadata.json`, the marker of a completed
 * backup. Any failure aborts the multipart upload (no object, no parts, no metadata) and disconnects, which
 * makes the instance manager stop the tool.
 *
 * Configuration (environment, the `WorkerEnv` contract of `src/api/jobs.ts`; values are Schema-validated at start,
 * errors name the variable):
 *
 * | variable | meaning |
 * | --- | --- |
 * | `BACKUP_NAMESPACE` | namespace of the Backup and its Cluster |
 * | `BACKUP_CLUSTER_NAME`, `BACKUP_CLUSTER_UID` | the Cluster (uid optional) |
 * | `BACKUP_NAME`, `BACKUP_UID` | the Backup (uid optional) |
 * | `BACKUP_ID` | the backup id assigned by the controller (`YYYYMMDDTHHMMSSZ`), reused by Job retries |
 * | `BACKUP_INSTANCE_URL` | the instance manager's mTLS base URL, e.g. `https://db1-2.db1.ns.svc:8443` |
 * | `BACKUP_INSTANCE_NAME` | the source instance (Pod) name, recorded in metadata.json |
 * | `BACKUP_TLS_CA_FILE` | PEM of the cluster CA (verifies the instance manager) |
 * | `BACKUP_TLS_CERT_FILE`, `BACKUP_TLS_KEY_FILE` | the worker's client certificate and key (PEM) |
 * | `BACKUP_TLS_SERVER_NAME` | optional: name to verify in the server certificate when it differs from the URL's host |
 * | `BACKUP_UPLOAD_CONCURRENCY` | optional: parts uploaded at once (default 4) |
 * | `BACKUP_PROGRESS_INTERVAL_MS` | optional: milliseconds between progress reports (default 10000) |
 * | `BACKUP_PROGRESS_STATUS` | optional: `true` also writes each report to the Backup's `status.progress` with the Pod's service-account token (`statusProgress.ts`) |
 * | `TERMINATION_MESSAGE_PATH` | where the result JSON goes (default `/dev/termination-log`) |
 * | `OBJECT_STORE_SPEC`, `OBJECT_STORE_SECRETS_DIR`, `OBJECT_STORE_MAX_SOCKETS` | the object store: spec JSON and mounted secret files (`src/objectstore/connection.ts`) |
 *
 * Output: JSON log lines on stdout (never the stream, never credentials), and the termination message: the
 * `WorkerResult` on success (exit 0), a `FailureMessage` `{ reason, message }` on failure (exit 1), where `reason` is
 * the failure's stable tag: `InstanceManagerTLSFailed`, `XtraBackupFailed`, `ObjectStoreUploadFailed`,
 * `InvalidName`, `InvalidConfiguration`. See docs/worker.md.
 *
 * @since 0.1.0
 */
import { readFile } from "node:fs/promises"
import { Effect, Schema } from "effect"
import { InstanceManagerTLSFailed } from "../api/failures.ts"
import type { BinlogPosition, WorkerEnv, WorkerResult } from "../api/jobs.ts"
import { nowRfc3339Millis, Timestamp } from "../api/time.ts"
import { type ClientTls, startBackup } from "../instance/client.ts"
import type { BackupOutcome } from "../instance/protocol.ts"
import { backupKeys } from "../objectstore/layout.ts"
import type { BackupMetadata } from "../objectstore/metadata.ts"
import { withObjectStoreFromEnv } from "../objectstore/ObjectStoreClient.ts"
import { archiveMetadata, writeMetadata } from "./metadataWriter.ts"
import type { UploadProgress } from "./progress.ts"
import { inClusterTarget, ProgressWriteFailed, writeProgress } from "./statusProgress.ts"
import { uploadStream } from "./upload.ts"

const isTimestamp = Schema.is(Timestamp)

const readTlsFile = (url: string, path: string, what: string) =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (error) =>
      new InstanceManagerTLSFailed({
        url,
        detail: `cannot read the ${what} ${path}: ${error instanceof Error ? error.message : String(error)}`
      })
  })

/** Loads the worker's TLS material from the mounted files. */
export const loadClientTls = Effect.fn("worker.loadClientTls")(function* (env: WorkerEnv) {
  const url = env.BACKUP_INSTANCE_URL
  const [ca, cert, key] = yield* Effect.all([
    readTlsFile(url, env.BACKUP_TLS_CA_FILE, "CA certificate"),
    readTlsFile(url, env.BACKUP_TLS_CERT_FILE, "client certificate"),
    readTlsFile(url, env.BACKUP_TLS_KEY_FILE, "client key")
  ])
  return {
    ca,
    cert,
    key,
    ...(env.BACKUP_TLS_SERVER_NAME === undefined ? {} : { servername: env.BACKUP_TLS_SERVER_NAME })
  } satisfies ClientTls
})

const optionalString = <K extends string>(key: K, value: string): { [P in K]?: string } =>
  (value === "" ? {} : { [key]: value }) as { [P in K]?: string }

const optionalBinlog = <K extends string>(
  key: K,
  value: { readonly file: string; readonly position: number } | null
): { [P in K]?: BinlogPosition } => (value === null ? {} : { [key]: value }) as { [P in K]?: BinlogPosition }

const logProgress = (p: UploadProgress) =>
  Effect.logInfo("backup progress").pipe(
    Effect.annotateLogs({
      bytes: p.bytesRead,
      bytesUploaded: p.bytesUploaded,
      parts: p.partsUploaded,
      bytesPerSecond: p.bytesPerSecond,
      averageBytesPerSecond: p.averageBytesPerSecond,
      elapsedMillis: p.elapsedMillis
    })
  )

/**
 * How the worker reports progress: always a log line; with `BACKUP_PROGRESS_STATUS=true` also the Backup's
 * `status.progress` (a worker outside a Pod says once why it cannot, and keeps logging).
 */
export const progressReporter = Effect.fn("worker.progressReporter")(function* (env: WorkerEnv) {
  if (env.BACKUP_PROGRESS_STATUS !== "true") return logProgress
  const target = inClusterTarget(process.env, env.BACKUP_NAMESPACE, env.BACKUP_NAME)
  if (target instanceof ProgressWriteFailed) {
    yield* Effect.logWarning("backup progress goes to the log only").pipe(
      Effect.annotateLogs({ detail: target.detail })
    )
    return logProgress
  }
  return (p: UploadProgress) => Effect.andThen(logProgress(p), writeProgress(target, p, undefined))
})

/**
 * Takes one backup into the object store of the current `ObjectStoreClient` (see the module comment).
 * `tls` is the loaded client certificate material.
 */
export const runBackup = Effect.fn("worker.runBackup")(function* (env: WorkerEnv, tls: ClientTls, path: string) {
  const keys = yield* backupKeys({
    path,
    cluster: env.BACKUP_CLUSTER_NAME,
    backupName: env.BACKUP_NAME,
    backupId: env.BACKUP_ID
  })
  const workerStartedAt = yield* nowRfc3339Millis
  yield* Effect.logInfo("backup starting").pipe(
    Effect.annotateLogs({ instance: env.BACKUP_INSTANCE_URL, key: keys.archiveKey })
  )
  const report = yield* progressReporter(env)
  const response = yield* startBackup(env.BACKUP_INSTANCE_URL, tls)
  let outcome: BackupOutcome | undefined
  const upload = yield* uploadStream(response.body, {
    key: keys.archiveKey,
    ...(env.BACKUP_UPLOAD_CONCURRENCY === undefined ? {} : { uploadConcurrency: env.BACKUP_UPLOAD_CONCURRENCY }),
    // the archive becomes an object only once the tool reported success (a privilege missing for the very
    // last statement fails the tool after everything was streamed)
    commit: Effect.map(response.outcome, (o) => {
      outcome = o
    }),
    progress: {
      interval: env.BACKUP_PROGRESS_INTERVAL_MS ?? 10_000,
      // one second in, so `status.progress` (and `--wait`) show bytes flowing even for a short backup
      first: Math.min(1_000, env.BACKUP_PROGRESS_INTERVAL_MS ?? 10_000),
      report
    }
  })
  const end = outcome ?? (yield* response.outcome)
  const start = response.start
  const startedAt = isTimestamp(start.startedAt) ? start.startedAt : workerStartedAt
  const stoppedAt = yield* nowRfc3339Millis
  const gtids = { ...optionalString("beginGTID", start.beginGtid), ...optionalString("endGTID", end.endGtid) }
  const binlogs = {
    ...optionalBinlog("beginBinlog", start.beginBinlog),
    ...optionalBinlog("endBinlog", end.endBinlog)
  }
  const metadata: BackupMetadata = {
    version: 1,
    cluster: {
      name: env.BACKUP_CLUSTER_NAME,
      namespace: env.BACKUP_NAMESPACE,
      ...(env.BACKUP_CLUSTER_UID === undefined ? {} : { uid: env.BACKUP_CLUSTER_UID })
    },
    backup: {
      name: env.BACKUP_NAME,
      namespace: env.BACKUP_NAMESPACE,
      ...(env.BACKUP_UID === undefined ? {} : { uid: env.BACKUP_UID })
    },
    backupId: env.BACKUP_ID,
    sourceInstance: env.BACKUP_INSTANCE_NAME,
    method: "xtrabackup",
    flavor: start.flavor,
    tool: { name: start.tool, version: start.toolVersion },
    archive: archiveMetadata(upload),
    startedAt,
    stoppedAt,
    ...gtids,
    ...binlogs
  }
  yield* writeMetadata(keys, upload, metadata)
  const result: WorkerResult = {
    backupId: env.BACKUP_ID,
    archiveKey: keys.archiveKey,
    metadataKey: keys.metadataKey,
    sha256: upload.sha256,
    size: upload.size,
    tool: start.tool,
    toolVersion: start.toolVersion,
    ...gtids,
    ...binlogs,
    startedAt,
    stoppedAt
  }
  yield* Effect.logInfo("backup completed").pipe(
    Effect.annotateLogs({
      size: upload.size,
      sha256: upload.sha256,
      parts: upload.parts,
      peakBytesInFlight: upload.peakBytesInFlight,
      endGTID: end.endGtid
    })
  )
  return result
}, Effect.scoped)

/** The `backup` subcommand over a decoded environment: object store from env + secret files, then `runBackup`. */
export const backupWorker = (env: WorkerEnv) =>
  withObjectStoreFromEnv((connection) =>
    Effect.flatMap(loadClientTls(env), (tls) => runBackup(env, tls, connection.spec.path ?? ""))
  ).pipe(Effect.annotateLogs({ backup: env.BACKUP_NAME, backupId: env.BACKUP_ID, namespace: env.BACKUP_NAMESPACE }))
