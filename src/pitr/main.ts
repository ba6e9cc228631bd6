/**
 * The `archive-binlogs` process: decodes its environment, connects the object store from `OBJECT_STORE_SPEC`,
 * serves its status endpoint (`ARCHIVE_STATUS_PORT`: `/healthz`, `/status`, `/metrics`) and runs the archiver
 * until it is stopped. A prefix owned by another cluster is not an exit: the process waits, reports it on
 * `/status` and checks again every minute, so the Cluster's condition can say why nothing is archived. Its own
 * errors become taxonomy failures for the termination message: an unusable work directory or binlog file is
 * `InvalidConfiguration`, a source that cannot be reached at all is `NoHealthyInstance` (a lost connection is
 * retried, not reported).
 *
 * Next to the archiver runs the rotation (`ARCHIVE_FLUSH_URL`): every `ARCHIVE_FLUSH_INTERVAL_SECONDS` it asks
 * the primary's instance manager to close the open binlog file when it holds transactions, so the file
 * completes and is archived. A failed rotation is logged and tried again at the next interval; it never stops
 * the archiver, whose files stay correct, only later. While the primary's name does not resolve yet (the
 * archiver starts before the primary's Service answers) the rotation waits with one log line, not a warning
 * per interval.
 *
 * @since 0.2.0
 */
import { lookup } from "node:dns/promises"
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duration, Effect, Ref, Schedule } from "effect"
import { type ArchiveIdentity, type ArchiverEnv, archiverStatusPort } from "../api/binlogArchive.ts"
import { InvalidConfiguration, NoHealthyInstance } from "../api/failures.ts"
import { flushBinaryLogs } from "../instance/client.ts"
import { flavorOf } from "../instance/flavor.ts"
import { binlogArchivePrefix } from "../objectstore/binlogLayout.ts"
import { withObjectStoreFromEnv } from "../objectstore/ObjectStoreClient.ts"
import { archivedManifests } from "./archiveCatalog.ts"
import { claimArchive, querySource, runArchiver } from "./archiver.ts"
import { type ArchiverMonitor, makeArchiverMonitor, serveArchiverStatus } from "./archiverStatus.ts"

const quoteOption = (value: string): string => `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`

const invalid = (detail: string) => new InvalidConfiguration({ detail })

const readText = (path: string, what: string) =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (error) => invalid(`cannot read ${what} ${path}: ${String(error)}`)
  })

/**
 * The archiver account's option file: ARCHIVE_CREDENTIALS_FILE as it is, or one written from ARCHIVE_USER and
 * ARCHIVE_PASSWORD_FILE into a private directory (mode 0600) that is removed with the scope. The password never
 * goes into argv or a log.
 */
export const credentialsFileOf = (env: ArchiverEnv) =>
  Effect.gen(function* () {
    if (env.ARCHIVE_CREDENTIALS_FILE !== undefined) return env.ARCHIVE_CREDENTIALS_FILE
    if (env.ARCHIVE_USER === undefined || env.ARCHIVE_PASSWORD_FILE === undefined) {
      return yield* invalid("set ARCHIVE_CREDENTIALS_FILE, or ARCHIVE_USER with ARCHIVE_PASSWORD_FILE")
    }
    // a trailing newline is an artefact of how Secrets are written, not part of the password
    const password = (yield* readText(env.ARCHIVE_PASSWORD_FILE, "ARCHIVE_PASSWORD_FILE")).replace(/\r?\n$/u, "")
    const dir = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => mkdtemp(join(tmpdir(), "cnm-archiver-")),
        catch: (error) => invalid(`cannot create a private directory: ${String(error)}`)
      }),
      (path) => Effect.promise(() => rm(path, { recursive: true, force: true }).catch(() => undefined))
    )
    const file = join(dir, "client.cnf")
    yield* Effect.tryPromise({
      try: async () => {
        await chmod(dir, 0o700)
        await writeFile(
          file,
          `[client]\nuser=${quoteOption(env.ARCHIVE_USER ?? "")}\npassword=${quoteOption(password)}\n`,
          {
            mode: 0o600
          }
        )
      },
      catch: (error) => invalid(`cannot write the credentials file: ${String(error)}`)
    })
    return file
  })

/**
 * Whether `host` resolves now (an address literal always does). Only "no such name" (`ENOTFOUND`) counts as not
 * resolving: a name server that does not answer (`EAI_AGAIN`) is an outage, and the flush reports it loudly.
 */
const resolves = (host: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    lookup(host).then(
      () => true,
      (error: NodeJS.ErrnoException) => error.code !== "ENOTFOUND"
    )
  )

/**
 * The rotation loop, or nothing when ARCHIVE_FLUSH_URL is not set. Its configuration is checked and read here,
 * before the archiver starts; the loop itself cannot fail.
 */
export const rotation = (env: ArchiverEnv) =>
  Effect.gen(function* () {
    const url = env.ARCHIVE_FLUSH_URL
    if (url === undefined) return Effect.void
    const [ca, cert, key] = [env.ARCHIVE_TLS_CA_FILE, env.ARCHIVE_TLS_CERT_FILE, env.ARCHIVE_TLS_KEY_FILE]
    if (ca === undefined || cert === undefined || key === undefined) {
      return yield* invalid(
        "ARCHIVE_FLUSH_URL needs ARCHIVE_TLS_CA_FILE, ARCHIVE_TLS_CERT_FILE and ARCHIVE_TLS_KEY_FILE"
      )
    }
    const tls = {
      ca: yield* readText(ca, "ARCHIVE_TLS_CA_FILE"),
      cert: yield* readText(cert, "ARCHIVE_TLS_CERT_FILE"),
      key: yield* readText(key, "ARCHIVE_TLS_KEY_FILE")
    }
    const host = new URL(url).hostname
    const waiting = yield* Ref.make(false)
    const flush = flushBinaryLogs(url, tls).pipe(
      Effect.tap((result) =>
        result.rotated ? Effect.logInfo("binlog rotated", { file: result.file, gtid: result.gtid }) : Effect.void
      ),
      Effect.catch((error) => Effect.logWarning("binlog rotation failed", { detail: error.message }))
    )
    // the primary's name does not resolve until its Service (in the sandbox: its ready endpoint) exists, which is
    // how every archiver starts: one line when the wait starts and one when it ends, not a warning per interval
    const once = Effect.gen(function* () {
      const resolved = yield* resolves(host)
      const wasWaiting = yield* Ref.getAndSet(waiting, !resolved)
      if (!resolved) {
        if (wasWaiting) yield* Effect.logDebug(`${host} does not resolve yet`)
        else yield* Effect.logInfo(`waiting for ${host} to resolve before rotating binlogs`)
        return
      }
      if (wasWaiting) yield* Effect.logInfo(`${host} resolves: rotating binlogs`)
      yield* flush
    })
    return Effect.repeat(once, Schedule.spaced(Duration.seconds(env.ARCHIVE_FLUSH_INTERVAL_SECONDS ?? 300))).pipe(
      Effect.delay(Duration.seconds(env.ARCHIVE_FLUSH_INTERVAL_SECONDS ?? 300)),
      Effect.asVoid
    )
  })

/** How often a prefix owned by another cluster is checked again (the owner may be fixed without a restart). */
const ownedPrefixRecheck = Duration.minutes(1)

/**
 * Claims the prefix, waiting while it belongs to another cluster: the process stays up and reports
 * `ownedByOtherCluster` on its status endpoint (the controller turns it into a condition and an Event) instead of
 * crash-looping with a reason only the Pod shows.
 */
const claimOrWait = (archivePrefix: string, identity: ArchiveIdentity, monitor: ArchiverMonitor) =>
  claimArchive(archivePrefix, identity).pipe(
    Effect.tapError((e) =>
      e._tag === "ArchiveOwnedByOtherCluster"
        ? Effect.andThen(
            monitor.setState({ state: "ownedByOtherCluster", message: e.message }),
            Effect.logWarning(e.message)
          )
        : Effect.void
    ),
    Effect.retry({
      while: (e) => e._tag === "ArchiveOwnedByOtherCluster",
      schedule: Schedule.spaced(ownedPrefixRecheck)
    })
  )

/** The archiver over a decoded environment. */
export const archiverProgram = (env: ArchiverEnv) =>
  withObjectStoreFromEnv((connection) =>
    Effect.gen(function* () {
      const archivePrefix = yield* binlogArchivePrefix(connection.spec.path ?? "", env.ARCHIVE_CLUSTER_NAME)
      const credentialsFile = yield* credentialsFileOf(env)
      const flavor = flavorOf(env.ARCHIVE_FLAVOR ?? "mariadb")
      const source = {
        host: env.ARCHIVE_SOURCE_HOST,
        port: env.ARCHIVE_SOURCE_PORT ?? 3306,
        credentialsFile,
        ...(env.ARCHIVE_TLS_CA_FILE === undefined ? {} : { caFile: env.ARCHIVE_TLS_CA_FILE }),
        flavor: flavor.name
      }
      const identity: ArchiveIdentity = {
        version: 1,
        cluster: env.ARCHIVE_CLUSTER_NAME,
        namespace: env.ARCHIVE_CLUSTER_NAMESPACE,
        ...(env.ARCHIVE_CLUSTER_UID === undefined ? {} : { uid: env.ARCHIVE_CLUSTER_UID })
      }
      const monitor = makeArchiverMonitor(flavor.name)
      const port = yield* serveArchiverStatus({
        monitor,
        port: env.ARCHIVE_STATUS_PORT ?? archiverStatusPort,
        host: env.ARCHIVE_LISTEN_ADDRESS ?? "0.0.0.0",
        serverPosition: Effect.map(
          querySource(source, `SELECT ${flavor.executedGtidExpression} AS pos`),
          (rows) => rows[0]?.pos ?? ""
        )
      }).pipe(Effect.mapError((e) => invalid(`status endpoint: ${e.message}`)))
      yield* Effect.logInfo("binlog archiver status endpoint listening", { port })
      const rotate = yield* rotation(env)
      const archive = Effect.gen(function* () {
        yield* claimOrWait(archivePrefix, identity, monitor)
        yield* monitor.load(yield* archivedManifests(archivePrefix))
        // rotating a primary whose files are not archived here would only fill its binlog index
        yield* Effect.forkScoped(rotate)
        return yield* runArchiver({
          source,
          dumpServerId: env.ARCHIVE_DUMP_SERVER_ID,
          workDir: env.ARCHIVE_WORK_DIR,
          archivePrefix,
          identity,
          onArchived: monitor.archived,
          onState: monitor.setState,
          ...(env.ARCHIVE_POLL_INTERVAL_MS === undefined ? {} : { pollInterval: env.ARCHIVE_POLL_INTERVAL_MS })
        })
      })
      return yield* archive.pipe(
        Effect.tapError((e) => monitor.setState({ state: "failed", message: e.message })),
        Effect.catchTags({
          ArchiveOwnedByOtherCluster: (e) => Effect.fail(new InvalidConfiguration({ detail: e.message })),
          WorkDirFailed: (e) => Effect.fail(new InvalidConfiguration({ detail: `work directory: ${e.detail}` })),
          BinlogFileInvalid: (e) => Effect.fail(new InvalidConfiguration({ detail: e.message })),
          BinlogSourceUnavailable: (e) =>
            Effect.fail(
              new NoHealthyInstance({ cluster: env.ARCHIVE_CLUSTER_NAME, target: "primary", detail: e.detail })
            )
        })
      )
    }).pipe(Effect.scoped)
  )
