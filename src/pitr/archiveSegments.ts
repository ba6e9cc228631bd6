/**
 * The archive's gap-free runs, from its manifests (pure): what the archiver reports on `/status` so that the
 * controller, which never reads the archive, can compute the recoverability window from the Backups it knows.
 *
 * Files are chained by GTID state, as the recovery plan chains them, never by name: a file continues a run when
 * its `gtidStateBefore` is included in the run's end state, and it extends the run when it adds transactions. A
 * file whose transactions the run already holds (a failover's overlap, an empty file) only moves the run's last
 * event time when it starts exactly at the run's end, because only then it proves that nothing was written in
 * between. A file that starts beyond the run's end is a gap: a new run begins with it. The GTID arithmetic is the
 * flavour's (`gtidStates.ts`, as the plan's); manifests of another flavour are not this archive's history.
 *
 * @since 0.2.0
 */
import type { ArchiveSegment, BinlogManifest } from "../api/binlogArchive.ts"
import type { FlavorName } from "../api/common.ts"
import { flavorOf } from "../instance/flavor.ts"

const compareBigint = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0)

interface Run {
  start: unknown
  end: unknown
  firstEventTime: string
  lastEventTime: string
  firstFile: string
  lastFile: string
  files: number
}

const later = (a: string, b: string): string => (Date.parse(b) > Date.parse(a) ? b : a)

/** The gap-free runs of `manifests` of `flavor` (default MariaDB), oldest first. */
export const archiveSegments = (
  manifests: ReadonlyArray<BinlogManifest>,
  flavor: FlavorName = "mariadb"
): ReadonlyArray<ArchiveSegment> => {
  const states = flavorOf(flavor).gtidStates
  const total = (state: unknown): bigint => states.size(state)
  const files = manifests
    .flatMap((manifest) => {
      const before = manifest.flavor === flavor ? states.parse(manifest.gtidStateBefore) : undefined
      const after = manifest.flavor === flavor ? states.parse(manifest.gtidStateAfter) : undefined
      return before === undefined || after === undefined
        ? []
        : [{ manifest, name: `${manifest.series}/${manifest.file}`, before, after }]
    })
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
    if (run !== undefined && states.includes(run.end, file.before)) {
      if (!states.includes(run.end, file.after)) {
        run.end = states.advance(run.end, file.after)
        run.lastFile = file.name
        run.lastEventTime = later(run.lastEventTime, file.manifest.lastEventTime)
        run.files += 1
      } else if (states.same(run.end, file.before)) {
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
    startState: states.format(run.start),
    endState: states.format(run.end),
    firstEventTime: run.firstEventTime,
    lastEventTime: run.lastEventTime,
    firstFile: run.firstFile,
    lastFile: run.lastFile,
    files: run.files
  }))
}
