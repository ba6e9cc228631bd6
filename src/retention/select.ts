/**
 * What a retention policy deletes, decided purely from what the object store lists: the base backups and the
 * archived binlog files that no recovery inside the window can need (docs/pitr.md, "Retention").
 *
 * The window starts at `now − window`. Its start must stay recoverable, so the **anchor** is the latest
 * completed backup a recovery to the window's start would restore (`endsBefore` of the recovery plan, the same
 * test the restore uses); the anchor and every completed backup after it (in the plan's order) are kept, so every
 * recovery to a point at or after the window's start picks the same base backup as before. Without an anchor
 * (no completed backup ends before the window's start) every completed backup is kept.
 *
 * - Completed backups before the anchor go.
 * - Damaged backups (a `metadata.json` that recovery refuses) go when they started before the anchor did: they
 *   serve no recovery, and one that were intact would go too.
 * - Incomplete backups (no `metadata.json`: a failed or killed upload, or a backup this job already half
 *   deleted) go when they started before the window: a running backup is never that old.
 * - A binlog file goes when every kept completed backup already holds all of its transactions and no kept
 *   backup's end state is where the file starts (a file starting exactly there is the recovery plan's proof
 *   that nothing was written before its first event, for a time target), and its last event is before the
 *   window's start. When any kept backup has no end GTID, or one that is not a MariaDB GTID list (a MySQL GTID
 *   set: the plan does not model those yet), the chain cannot be checked: no file goes. With no
 *   completed backup at all nothing is anyone's to judge: no file goes either.
 *
 * @since 0.2.0
 */
import { Option, Schema } from "effect"
import { backupIdToDate, parseBackupId } from "../api/backupId.ts"
import { type BinlogManifest, GtidList } from "../api/binlogArchive.ts"
import { rfc3339Millis } from "../api/time.ts"
import { includes, parseGtidList, samePosition } from "../pitr/gtid.ts"
import { byStopTime, endsBefore } from "../pitr/recoveryPlan.ts"

/** One backup of the catalog as retention sees it. */
export interface RetentionBackup {
  readonly backupName: string
  readonly backupId: string
  readonly status: "completed" | "incomplete" | "damaged"
  /** Completed backups: the GTID state the data ends at (`metadata.json` `endGTID`), when recorded. */
  readonly endGTID?: string | undefined
  /** Completed backups: when the backup stopped (RFC 3339). */
  readonly stoppedAt?: string | undefined
}

/** What retention deletes, and why the rest stays. */
export interface RetentionSelection<B extends RetentionBackup> {
  /** now − window, in epoch milliseconds. */
  readonly windowStart: number
  /** The completed backup the window's start depends on. */
  readonly anchor: B | undefined
  /** Backups to delete, oldest first. */
  readonly backups: ReadonlyArray<B>
  /** Binlog files to delete, in the order given. */
  readonly binlogFiles: ReadonlyArray<BinlogManifest>
}

const millis = (time: string): number => Date.parse(time)

/**
 * The instant a backup id names (`YYYYMMDDTHHMMSSZ`, UTC): when the backup's Job started. `NaN` for anything
 * else, which compares before nothing: such a backup is never deleted.
 */
const backupIdMillis = (backupId: string): number =>
  Option.match(parseBackupId(backupId), { onNone: () => Number.NaN, onSome: (id) => backupIdToDate(id).getTime() })

type Completed<B> = B & { readonly stoppedAt: string }

const isCompleted = <B extends RetentionBackup>(b: B): b is Completed<B> =>
  b.status === "completed" && b.stoppedAt !== undefined

/** The selection for `window` milliseconds at `now` (see the module comment). */
export const selectForRetention = <B extends RetentionBackup>(input: {
  readonly backups: ReadonlyArray<B>
  readonly manifests: ReadonlyArray<BinlogManifest>
  readonly now: number
  readonly window: number
}): RetentionSelection<B> => {
  const windowStart = input.now - input.window
  const completed = input.backups.filter(isCompleted).sort(byStopTime)
  const startTarget = { _tag: "Time", time: rfc3339Millis(windowStart) } as const
  const anchorIndex = completed.findLastIndex((b) => endsBefore({ ...b, endGTID: b.endGTID ?? "" }, startTarget))
  const anchor = anchorIndex < 0 ? undefined : completed[anchorIndex]
  const kept = anchorIndex < 0 ? completed : completed.slice(anchorIndex)
  const keptSet = new Set<RetentionBackup>(kept)
  const anchorStart = anchor === undefined ? undefined : backupIdMillis(anchor.backupId)
  const backups = input.backups
    .filter((b) => {
      if (isCompleted(b)) return !keptSet.has(b)
      if (b.status === "damaged") return anchorStart !== undefined && backupIdMillis(b.backupId) < anchorStart
      return backupIdMillis(b.backupId) < windowStart
    })
    .sort((a, b) => a.backupId.localeCompare(b.backupId) || a.backupName.localeCompare(b.backupName))

  const ends = kept.map((b) =>
    b.endGTID === undefined || !Schema.is(GtidList)(b.endGTID) ? undefined : parseGtidList(b.endGTID)
  )
  const chainKnown = ends.length > 0 && ends.every((e) => e !== undefined)
  const binlogFiles = !chainKnown
    ? []
    : input.manifests.filter((manifest) => {
        // judged by MariaDB positions only: a MySQL file (GTID sets) is kept, even next to an empty backup end
        if (manifest.flavor !== "mariadb") return false
        const before = parseGtidList(manifest.gtidStateBefore)
        const after = parseGtidList(manifest.gtidStateAfter)
        return (
          millis(manifest.lastEventTime) < windowStart &&
          ends.every((end) => end !== undefined && includes(end, after) && !samePosition(before, end))
        )
      })
  return { windowStart, anchor, backups, binlogFiles }
}
