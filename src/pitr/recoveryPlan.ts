/**
 * The recovery plan of a point-in-time recovery, decided purely from what the object store lists: the base
 * backup to restore and the archived binlog files to replay after it, or the precise reason the target cannot be
 * reached. The recovery Job acts on it only after it succeeded, so an unreachable target fails before anything
 * starts on the data; the controller can compute the same plan for the Cluster status.
 *
 * Targets follow `mariadb-binlog`: a GTID target is inclusive (the replay stops after it), a time target is
 * exclusive (every transaction committed at or after it is left out; binlog times have whole seconds). Files are
 * chained by GTID state, never by name, so a failover's new series continues the chain.
 *
 * @since 0.2.0
 */
import { Effect } from "effect"
import type { BinlogManifest } from "../api/binlogArchive.ts"
import { RecoveryTargetUnreachable } from "../api/failures.ts"
import {
  advancedDomains,
  formatGtidList,
  type GtidPosition,
  includes,
  mergePositions,
  parseGtidList,
  samePosition
} from "./gtid.ts"

/** What the plan needs of a completed base backup (from `metadata.json`). */
export interface BaseBackup {
  readonly backupId: string
  /** The GTID state the backup's data ends at (`endGTID`). */
  readonly endGTID: string
  /** When the backup stopped (RFC 3339, UTC). */
  readonly stoppedAt: string
}

/** Where recovery stops. */
export type RecoveryTarget =
  | { readonly _tag: "Gtid"; readonly gtid: string }
  | { readonly _tag: "Time"; readonly time: string }

/** The base backup and the files to replay after it, in replay order. */
export interface RecoveryPlan<B extends BaseBackup = BaseBackup> {
  readonly backup: B
  readonly files: ReadonlyArray<BinlogManifest>
  /** Replay from exactly after this GTID state (the backup's end). */
  readonly startPosition: string
  /**
   * For a GTID target, the full GTID state to stop at: the target plus the backup's domains the target does not
   * name (they do not advance, or the plan would have failed), because a GTID stop also filters domains.
   */
  readonly stopPosition?: string
  /** For a time target, the exclusive stop time. */
  readonly stopTime?: string
}

const millis = (time: string): number => Date.parse(time)

/** The order recovery chooses base backups in (the last eligible one wins): by stop time, then by id. */
export const byStopTime = (
  a: { readonly stoppedAt: string; readonly backupId: string },
  b: { readonly stoppedAt: string; readonly backupId: string }
): number => millis(a.stoppedAt) - millis(b.stoppedAt) || a.backupId.localeCompare(b.backupId)

/** How a target is named in messages and results (`targetGTID 0-1-24`). */
export const describeTarget = (target: RecoveryTarget): string =>
  target._tag === "Gtid" ? `targetGTID ${target.gtid}` : `targetTime ${target.time}`

/**
 * Whether `backup` can be the base of a recovery to `target`: for a GTID target, every domain the target names
 * is at or before the target in the backup's end state; for a time target, the backup stopped before it (whole
 * seconds, as the replay compares).
 */
export const endsBefore = (backup: BaseBackup, target: RecoveryTarget): boolean => {
  if (target._tag === "Gtid") {
    const targetGtid = parseGtidList(target.gtid)
    const end = parseGtidList(backup.endGTID)
    return [...targetGtid.keys()].every((d) => (end.get(d)?.seq ?? 0n) <= (targetGtid.get(d)?.seq ?? 0n))
  }
  return millis(backup.stoppedAt) < Math.floor(millis(target.time) / 1000) * 1000
}

interface Chained {
  readonly manifest: BinlogManifest
  readonly before: GtidPosition
  readonly after: GtidPosition
}

/**
 * The plan for `target` from the completed base backups and the archived manifests, choosing the latest backup
 * that ends before the target (only `backupID` when it is given).
 */
export const planRecovery = <B extends BaseBackup>(input: {
  readonly backups: ReadonlyArray<B>
  readonly manifests: ReadonlyArray<BinlogManifest>
  readonly target: RecoveryTarget
  readonly backupID?: string
}): Effect.Effect<RecoveryPlan<B>, RecoveryTargetUnreachable> =>
  Effect.gen(function* () {
    const { target } = input
    const targetText = describeTarget(target)
    const unreachable = (why: RecoveryTargetUnreachable["why"], detail: string) =>
      new RecoveryTargetUnreachable({ why, target: targetText, detail })
    const targetGtid = target._tag === "Gtid" ? parseGtidList(target.gtid) : undefined
    // mariadb-binlog drops the fraction of --stop-datetime, and binlog times have whole seconds
    const targetMillis = target._tag === "Time" ? Math.floor(millis(target.time) / 1000) * 1000 : undefined

    const candidates = input.backups.filter((b) => input.backupID === undefined || b.backupId === input.backupID)
    const eligible = candidates.filter((b) => endsBefore(b, target)).sort(byStopTime)
    const backup = eligible.at(-1)
    if (backup === undefined) {
      return yield* unreachable(
        "BeforeFirstRecoverablePoint",
        candidates.length === 0
          ? input.backupID === undefined
            ? "there is no completed base backup"
            : `backup ${input.backupID} is not a completed base backup`
          : `every ${input.backupID === undefined ? "" : "pinned "}base backup ends after it`
      )
    }
    const start = parseGtidList(backup.endGTID)

    const chain: Array<Chained> = []
    const files: ReadonlyArray<Chained> = input.manifests.map((manifest) => ({
      manifest,
      before: parseGtidList(manifest.gtidStateBefore),
      after: parseGtidList(manifest.gtidStateAfter)
    }))
    let current = start
    const reached = (): boolean => {
      if (targetGtid !== undefined) return includes(current, targetGtid)
      const limit = targetMillis as number
      const last = chain.at(-1)
      if (last !== undefined && millis(last.manifest.lastEventTime) >= limit) return true
      // A file starting exactly here proves that nothing was written before its first event, and an empty
      // file that closed after the target proves nothing was written before the target.
      return files.some(
        (f) =>
          samePosition(f.before, current) &&
          (millis(f.manifest.firstEventTime) >= limit ||
            (advancedDomains(f.before, f.after).length === 0 && millis(f.manifest.lastEventTime) >= limit))
      )
    }
    while (!reached()) {
      const next = files
        .filter((f) => includes(current, f.before) && !includes(current, f.after))
        .sort((a, b) => (includes(a.after, b.after) ? -1 : 1))[0]
      if (next === undefined) {
        const later = files.filter((f) => !includes(current, f.after))
        if (later.length > 0) {
          return yield* unreachable(
            "ArchiveGap",
            `no archived file continues from ${formatGtidList(current) || "the empty position"}; the next archived file starts at ${later.map((f) => f.manifest.gtidStateBefore || "''").sort()[0]}`
          )
        }
        return yield* unreachable(
          "AfterLastArchivedTransaction",
          `the archive ends at ${formatGtidList(current) || "the empty position"}${
            chain.length === 0
              ? ""
              : ` (${chain.at(-1)?.manifest.file}, last event ${chain.at(-1)?.manifest.lastEventTime})`
          }`
        )
      }
      chain.push(next)
      current = next.after
    }

    if (target._tag === "Gtid") {
      const targetGtid = parseGtidList(target.gtid)
      const advanced = new Set(chain.flatMap((f) => advancedDomains(f.before, f.after)))
      const omitted = [...advanced].filter((d) => !targetGtid.has(d)).sort((a, b) => a - b)
      if (omitted.length > 0) {
        return yield* unreachable(
          "DomainNotInTarget",
          `the files to replay hold transactions of domain ${omitted.join(", ")}, which the target does not name; name every domain's GTID`
        )
      }
      return {
        backup,
        files: chain.map((f) => f.manifest),
        startPosition: backup.endGTID,
        stopPosition: formatGtidList(mergePositions(start, targetGtid))
      }
    }
    return { backup, files: chain.map((f) => f.manifest), startPosition: backup.endGTID, stopTime: target.time }
  })
