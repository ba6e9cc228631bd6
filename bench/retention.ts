/**
 * The retention selection's cost (pure, this process's CPU): a 30-day window over a catalog of daily backups
 * kept for `RETENTION_DAYS` days (default 90) and an archive of one binlog file every 5 minutes over the same
 * span (12 × 24 × days files), the shape a `flushInterval: 5m` archiver leaves. The selection is
 * O(backups · log backups + kept backups × files); the figure says whether an hourly run notices it.
 *
 * Run: `npm run bench:retention`. The last line is the JSON result.
 */
import type { BinlogManifest } from "../src/api/binlogArchive.ts"
import { type RetentionBackup, selectForRetention } from "../src/retention/select.ts"

const days = Number(process.env.RETENTION_DAYS ?? "90")
const day = 24 * 60 * 60 * 1000
const start = Date.parse("2026-01-01T00:00:00Z")
const now = start + days * day
const iso = (millis: number): string => new Date(millis).toISOString().replace(/\.\d{3}Z$/u, "Z")
const idOf = (millis: number): string => iso(millis).replace(/[-:]/gu, "")
// 10 transactions per 5-minute file
const perFile = 10
const files = 12 * 24 * days
const manifests: Array<BinlogManifest> = Array.from({ length: files }, (_, i) => ({
  version: 1,
  cluster: "c",
  flavor: "mariadb",
  series: "server-1",
  file: `mysql-bin.${String(i + 1).padStart(6, "0")}`,
  size: 1_000_000,
  sha256: "0".repeat(64),
  serverId: 1,
  gtidStateBefore: i === 0 ? "" : `0-1-${i * perFile}`,
  gtidStateAfter: `0-1-${(i + 1) * perFile}`,
  firstGTID: `0-1-${i * perFile + 1}`,
  lastGTID: `0-1-${(i + 1) * perFile}`,
  firstEventTime: iso(start + i * 300_000 + 1000),
  lastEventTime: iso(start + (i + 1) * 300_000),
  archivedAt: iso(start + (i + 1) * 300_000 + 2000)
}))
const backups: Array<RetentionBackup> = Array.from({ length: days }, (_, d) => {
  const stopped = start + d * day + 3_600_000
  return {
    backupName: "daily",
    backupId: idOf(stopped - 600_000),
    status: "completed",
    stoppedAt: iso(stopped),
    endGTID: `0-1-${Math.floor((stopped - start) / 300_000) * perFile}`
  }
})

const runs = 5
const cpu = process.cpuUsage()
let selection = selectForRetention({ backups, manifests, now, window: 30 * day })
for (let i = 1; i < runs; i++) selection = selectForRetention({ backups, manifests, now, window: 30 * day })
const used = process.cpuUsage(cpu)
console.log(
  JSON.stringify({
    backups: backups.length,
    binlog_files: manifests.length,
    kept_backups: backups.length - selection.backups.length,
    deleted_backups: selection.backups.length,
    deleted_binlog_files: selection.binlogFiles.length,
    cpu_seconds_per_selection: Number(((used.user + used.system) / 1e6 / runs).toFixed(3))
  })
)
