/**
 * What the archiver tells the world about itself: `GET /healthz`, `GET /status` (an `ArchiverStatus`) and
 * `GET /metrics` (Prometheus text) over plain HTTP on `ARCHIVE_STATUS_PORT`. The controller has no object-store
 * credentials and never reads the archive; this endpoint is how it learns the archive's state, its gap-free runs
 * and why archiving stopped (the prefix belongs to another cluster, the primary does not answer).
 *
 * The monitor keeps every manifest the archive held at start plus every file archived since, so the runs cover
 * the whole prefix, not only this process's uploads. Whether the primary is ahead of the archive is asked at
 * request time (the flavour's executed GTID state), so an idle archiver does no extra work between scrapes.
 *
 * @since 0.2.0
 */
import { createServer } from "node:http"
import { Effect, FiberSet, Option } from "effect"
import {
  type ArchivedFile,
  type ArchiverState,
  type ArchiverStatus,
  archiverStatusPaths,
  type BinlogManifest
} from "../api/binlogArchive.ts"
import type { FlavorName } from "../api/common.ts"
import { nowMillis } from "../api/time.ts"
import { flavorOf } from "../instance/flavor.ts"
import { listenScoped } from "../platform/listen.ts"
import { archiveSegments } from "./archiveSegments.ts"

/** A state change of the archiver (`ok` names the series the dump follows). */
export type ArchiverStateUpdate =
  | { readonly state: "ok"; readonly series: string }
  | { readonly state: Exclude<ArchiverState, "ok">; readonly message: string }

/** The archiver's reported state, fed by the archiver loop. */
export interface ArchiverMonitor {
  readonly setState: (update: ArchiverStateUpdate) => Effect.Effect<void>
  /** The manifests the archive already holds (read once the prefix is claimed). */
  readonly load: (manifests: ReadonlyArray<BinlogManifest>) => Effect.Effect<void>
  /** One file archived by this process. */
  readonly archived: (manifest: BinlogManifest) => Effect.Effect<void>
  /** The `/status` answer, given the primary's GTID position when it could be asked. */
  readonly snapshot: (serverPosition: string | undefined) => Effect.Effect<ArchiverStatus>
}

const keyOf = (manifest: BinlogManifest): string => `${manifest.series}/${manifest.file}`

/** Whether the primary holds nothing beyond the archive; `undefined` when either side is unknown. */
const caughtUpWith = (
  flavor: FlavorName,
  lastArchived: ArchivedFile | undefined,
  serverPosition: string | undefined
) => {
  const states = flavorOf(flavor).gtidStates
  const archived = lastArchived === undefined ? undefined : states.parse(lastArchived.gtidState)
  const server = serverPosition === undefined ? undefined : states.parse(serverPosition)
  return archived === undefined || server === undefined ? undefined : states.includes(archived, server)
}

/** A fresh monitor in state `starting`, for an archive of `flavor` (default MariaDB). */
export const makeArchiverMonitor = (flavor: FlavorName = "mariadb"): ArchiverMonitor => {
  let update: ArchiverStateUpdate = { state: "starting", message: "claiming the archive prefix" }
  const manifests = new Map<string, BinlogManifest>()
  let segments: ArchiverStatus["segments"] = []
  let newest: BinlogManifest | undefined
  let filesArchived = 0
  let bytesArchived = 0
  let lastUploadTime: string | undefined
  // once per archived file (minutes apart), not per request
  const refresh = () => {
    segments = archiveSegments([...manifests.values()], flavor)
    newest = [...manifests.values()].reduce<BinlogManifest | undefined>(
      (best, m) => (best === undefined || Date.parse(m.archivedAt) > Date.parse(best.archivedAt) ? m : best),
      undefined
    )
  }
  return {
    setState: (next) =>
      Effect.sync(() => {
        update = next
      }),
    load: (loaded) =>
      Effect.sync(() => {
        for (const manifest of loaded) manifests.set(keyOf(manifest), manifest)
        refresh()
      }),
    archived: (manifest) =>
      Effect.sync(() => {
        manifests.set(keyOf(manifest), manifest)
        filesArchived += 1
        bytesArchived += manifest.size
        lastUploadTime = manifest.archivedAt
        refresh()
      }),
    snapshot: (serverPosition) =>
      Effect.gen(function* () {
        const now = yield* nowMillis
        const last = newest
        const lastArchived: ArchivedFile | undefined =
          last === undefined
            ? undefined
            : {
                file: keyOf(last),
                gtidState: last.gtidStateAfter,
                ...(last.lastGTID === undefined ? {} : { lastGTID: last.lastGTID }),
                eventTime: last.lastEventTime,
                archivedAt: last.archivedAt
              }
        const caughtUp = caughtUpWith(flavor, lastArchived, serverPosition)
        // a manifest's time is a pattern-checked string: one that names no real instant gives no lag
        const since = lastArchived === undefined ? Number.NaN : now - Date.parse(lastArchived.eventTime)
        const lagSeconds =
          caughtUp === true ? 0 : Number.isFinite(since) ? Math.max(0, Math.floor(since / 1000)) : undefined
        return {
          version: 1,
          state: update.state,
          ...(update.state === "ok" ? { series: update.series } : { message: update.message }),
          ...(lastArchived === undefined ? {} : { lastArchived }),
          segments,
          ...(caughtUp === undefined ? {} : { caughtUp }),
          ...(caughtUp === undefined || lagSeconds === undefined ? {} : { lagSeconds }),
          filesArchived,
          bytesArchived,
          ...(lastUploadTime === undefined ? {} : { lastUploadTime })
        } satisfies ArchiverStatus
      })
  }
}

const states: ReadonlyArray<ArchiverState> = ["starting", "ok", "ownedByOtherCluster", "serverUnreachable", "failed"]

/** The archiver's Prometheus text (exposition format 0.0.4). */
const renderArchiverMetrics = (status: ArchiverStatus): string => {
  const lines: Array<string> = []
  const metric = (name: string, type: "gauge" | "counter", help: string, series: ReadonlyArray<string>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...series)
  }
  metric(
    "cnmysql_binlog_archive_state",
    "gauge",
    "1 for the archiver's current state",
    states.map((s) => `cnmysql_binlog_archive_state{state="${s}"} ${s === status.state ? 1 : 0}`)
  )
  if (status.lagSeconds !== undefined) {
    metric(
      "cnmysql_binlog_archive_lag_seconds",
      "gauge",
      "Seconds since the last archived transaction while the primary is ahead of the archive (0 when caught up)",
      [`cnmysql_binlog_archive_lag_seconds ${status.lagSeconds}`]
    )
  }
  metric("cnmysql_binlog_archive_files_total", "counter", "Binlog files archived by this process", [
    `cnmysql_binlog_archive_files_total ${status.filesArchived}`
  ])
  metric("cnmysql_binlog_archive_bytes_total", "counter", "Bytes of binlog archived by this process", [
    `cnmysql_binlog_archive_bytes_total ${status.bytesArchived}`
  ])
  metric("cnmysql_binlog_archive_segments", "gauge", "Gap-free runs in the archive (more than 1: a gap)", [
    `cnmysql_binlog_archive_segments ${status.segments.length}`
  ])
  if (status.lastUploadTime !== undefined) {
    metric("cnmysql_binlog_archive_last_upload_timestamp_seconds", "gauge", "When the last file was archived", [
      `cnmysql_binlog_archive_last_upload_timestamp_seconds ${Date.parse(status.lastUploadTime) / 1000}`
    ])
  }
  return `${lines.join("\n")}\n`
}

/**
 * Serves the monitor on `port` (0 picks one) for the scope; resolves with the bound port. `/healthz` is 200
 * while the archiver can archive (`starting`, `ok`) and 503 otherwise, so the Deployment's readiness shows it.
 * `serverPosition` asks the primary for its GTID position (failures leave `caughtUp` unknown).
 */
export const serveArchiverStatus = Effect.fn("pitr.serveArchiverStatus")(function* (options: {
  readonly monitor: ArchiverMonitor
  readonly port: number
  readonly host: string
  readonly serverPosition: Effect.Effect<string, unknown>
}) {
  const run = yield* FiberSet.makeRuntime<never, void, never>()
  const snapshot = Effect.flatMap(
    options.serverPosition.pipe(Effect.timeout("5 seconds"), Effect.option, Effect.map(Option.getOrUndefined)),
    options.monitor.snapshot
  )
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://archiver").pathname
    if (req.method !== "GET") {
      res.writeHead(405).end()
      return
    }
    if (path === archiverStatusPaths.healthz) {
      run(
        Effect.map(options.monitor.snapshot(undefined), (status) => {
          const healthy = status.state === "ok" || status.state === "starting"
          res
            .writeHead(healthy ? 200 : 503, { "content-type": "text/plain" })
            .end(healthy ? `${status.state}\n` : `${status.state}: ${status.message ?? ""}\n`)
        })
      )
      return
    }
    if (path === archiverStatusPaths.status) {
      run(
        Effect.map(snapshot, (status) => {
          res.writeHead(200, { "content-type": "application/json" }).end(`${JSON.stringify(status)}\n`)
        })
      )
      return
    }
    if (path === archiverStatusPaths.metrics) {
      run(
        Effect.map(snapshot, (status) => {
          res
            .writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
            .end(renderArchiverMetrics(status))
        })
      )
      return
    }
    res.writeHead(404).end()
  })
  return yield* listenScoped(server, options.port, options.host)
})
