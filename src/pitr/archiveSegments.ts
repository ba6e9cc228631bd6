/**
 * The archive's gap-free runs, from its manifests (pure): what the archiver reports on `/status` so that the
 * controller, which never reads the archive, can compute the recoverability window from the Backups it knows.
 *
 * Files are chained by GTID state, as the recovery plan chains them, never by name: a file continues a run when
 * its `gtidStateBefore` is included in the run's end state, and it extends the run when it adds transactions. A
 * file whose transactions the run already holds (a failover's overlap, an empty file) only moves the run's last
 * event time when it starts exactly at the run's end, because only then it proves that nothing was written in
 * between. A file that starts beyond the run's end is a gap: a new run begins with it.
 *
 * @since 0.2.0
 */
import type { ArchiveSegment, BinlogManifest } from "../api/binlogArchive.ts"
import { formatGtidList, type GtidPosition, includes, parseGtidList, samePosition } from "./gtid.ts"

const total = (position: GtidPosition): bigint => [...position.values()].reduce((sum, gtid) => sum + gtid.seq, 0n)

const compareBigint = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0)

interface Run {
  start: GtidPosition
  end: GtidPosition
  firstEventTime: string
  lastEventTime: string
  firstFile: string
  lastFile: string
  files: number
}

const later = (a: string, b: string): string => (Date.parse(b) > Date.parse(a) ? b : a)

/** The gap-free runs of `manifests`, oldest first. */
export const archiveSegments = (manifests: ReadonlyArray<BinlogManifest>): ReadonlyArray<ArchiveSegment> => {
  const files = manifests
    .map((manifest) => ({
      manifest,
      name: `${manifest.series}/${manifest.file}`,
      before: parseGtidList(manifest.gtidStateBefore),
      after: parseGtidList(manifest.gtidStateAfter)
    }))
    // along one history a file's states grow: ordering by them puts every file after the ones it continues
    .sort(
      (a, b) =>
        compareBigint(total(a.before), total(b.before)) ||
        compareBigint(total(a.after), total(b.after)) ||
        Date.parse(a.manifest.firstEventTime) - Date.parse(b.manifest.firstEventTime) ||
        a.name.localeCompare(b.name)
    )
  const runs: Array<Run> = []
  for (const file of files) {
    const run = runs.at(-1)
    if (run !== undefined && includes(run.end, file.before)) {
      if (!includes(run.end, file.after)) {
        run.end = file.after
        run.lastFile = file.name
        run.lastEventTime = later(run.lastEventTime, file.manifest.lastEventTime)
        run.files += 1
      } else if (samePosition(run.end, file.before)) {
        run.lastEventTime = later(run.lastEventTime, file.manifest.lastEventTime)
        run.lastFile =
          Date.parse(file.manifest.lastEventTime) >= Date.parse(run.lastEventTime) ? file.name : run.lastFile
        run.files += 1
      }
      continue
    }
    runs.push({
      start: file.before,
      end: file.after,
      firstEventTime: file.manifest.firstEventTime,
      lastEventTime: file.manifest.lastEventTime,
      firstFile: file.name,
      lastFile: file.name,
      files: 1
    })
  }
  return runs.map((run) => ({
    startState: formatGtidList(run.start),
    endState: formatGtidList(run.end),
    firstEventTime: run.firstEventTime,
    lastEventTime: run.lastEventTime,
    firstFile: run.firstFile,
    lastFile: run.lastFile,
    files: run.files
  }))
}
