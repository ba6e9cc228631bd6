/**
 * The recovery plan of a point-in-time recovery, decided purely from what the object store lists: the base
 * backup to restore and the archived binlog files to replay after it, or the precise reason the target cannot be
 * reached. The recovery Job acts on it only after it succeeded, so an unreachable target fails before anything
 * starts on the data; the controller can compute the same plan for the Cluster status.
 *
 * Targets follow `mariadb-binlog`: a GTID target is inclusive (the replay stops after it), a time target is
 * exclusive (every transaction committed at or after it is left out; binlog times have whole seconds). Files are
 * chained by GTID state, never by name, so a failover's new series continues the chain. The GTID arithmetic is
 * the flavour's (`gtidStates.ts`): MariaDB positions by default, MySQL 8.4 sets, where a GTID target is the set
 * of transactions the recovered server holds.
 *
 * @since 0.2.0
 */
import { Effect } from "effect"
import type { BinlogManifest } from "../api/binlogArchive.ts"
import type { FlavorName } from "../api/common.ts"
import { RecoveryTargetUnreachable } from "../api/failures.ts"
import { flavorOf } from "../instance/flavor.ts"
import type { GtidStates } from "./gtidStates.ts"

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
   * For a GTID target, the full GTID state to stop at: MariaDB, the target plus the backup's domains the target
   * does not name (they do not advance, or the plan would have failed), because a GTID stop also filters
   * domains; MySQL, the backup's set plus the target's. The replay checks the server ends exactly there.
   */
  readonly stopPosition?: string
  /** For a time target, the exclusive stop time. */
  readonly stopTime?: string
  /** Whose GTID states these are, and so which decoder replays them (absent: MariaDB). */
  readonly flavor?: FlavorName
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

/** A state's text parsed by `states`; the boundaries (schemas, the restore's env) validated it already. */
const stateOf = (states: GtidStates<unknown>, text: string): unknown => {
  const state = states.parse(text)
  if (state === undefined) throw new Error(`not a GTID state of this flavour: '${text}'`)
  return state
}

/**
 * Whether `backup` can be the base of a recovery to `target`: for a GTID target, the backup holds nothing of
 * the target's domains (MySQL: server uuids) beyond the target (`GtidStates.endsBefore`); an end state that is
 * not one of the flavour's never is; for a time target, the backup stopped before it (whole seconds, as the
 * replay compares).
 */
export const endsBefore = (backup: BaseBackup, target: RecoveryTarget, flavor: FlavorName = "mariadb"): boolean => {
  if (target._tag === "Gtid") {
    const states = flavorOf(flavor).gtidStates
    const end = states.parse(backup.endGTID)
    return end !== undefined && states.endsBefore(end, stateOf(states, target.gtid))
  }
  return millis(backup.stoppedAt) < Math.floor(millis(target.time) / 1000) * 1000
}

interface Chained {
  readonly manifest: BinlogManifest
  readonly before: unknown
  readonly after: unknown
}

/**
 * The plan for `target` from the completed base backups and the archived manifests, choosing the latest backup
 * that ends before the target (only `backupID` when it is given). The GTID arithmetic is `flavor`'s (MariaDB by
 * default); manifests of another flavour are not part of this archive's history.
 */
export const planRecovery = <B extends BaseBackup>(input: {
  readonly backups: ReadonlyArray<B>
  readonly manifests: ReadonlyArray<BinlogManifest>
  readonly target: RecoveryTarget
  readonly backupID?: string
  readonly flavor?: FlavorName
}): Effect.Effect<RecoveryPlan<B>, RecoveryTargetUnreachable> =>
  Effect.gen(function* () {
    const { target } = input
    const flavor = input.flavor ?? "mariadb"
    const states = flavorOf(flavor).gtidStates
    const targetText = describeTarget(target)
    const unreachable = (why: RecoveryTargetUnreachable["why"], detail: string) =>
      new RecoveryTargetUnreachable({ why, target: targetText, detail })
    const targetGtid = target._tag === "Gtid" ? stateOf(states, target.gtid) : undefined
    // mariadb-binlog drops the fraction of --stop-datetime, and binlog times have whole seconds
    const targetMillis = target._tag === "Time" ? Math.floor(millis(target.time) / 1000) * 1000 : undefined
    const show = (state: unknown): string => states.format(state) || "the empty position"

    const candidates = input.backups.filter((b) => input.backupID === undefined || b.backupId === input.backupID)
    // a backup whose end is not a state of this flavour cannot start a replay (a time target does not read it)
    const eligible = candidates
      .filter((b) => endsBefore(b, target, flavor) && states.parse(b.endGTID) !== undefined)
      .sort(byStopTime)
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
    const start = stateOf(states, backup.endGTID)

    const chain: Array<Chained> = []
    const files: ReadonlyArray<Chained> = input.manifests
      .filter((manifest) => manifest.flavor === flavor)
      .map((manifest) => ({
        manifest,
        before: stateOf(states, manifest.gtidStateBefore),
        after: stateOf(states, manifest.gtidStateAfter)
      }))
    let current = start
    const reached = (): boolean => {
      if (targetGtid !== undefined) return states.includes(current, targetGtid)
      const limit = targetMillis as number
      const last = chain.at(-1)
      if (last !== undefined && millis(last.manifest.lastEventTime) >= limit) return true
      // A file starting exactly here proves that nothing was written before its first event, and an empty
      // file that closed after the target proves nothing was written before the target.
      return files.some(
        (f) =>
          states.same(f.before, current) &&
          (millis(f.manifest.firstEventTime) >= limit ||
            (states.advancedSources(f.before, f.after).length === 0 && millis(f.manifest.lastEventTime) >= limit))
      )
    }
    while (!reached()) {
      const next = files
        .filter((f) => states.includes(current, f.before) && !states.includes(current, f.after))
        .sort((a, b) => (states.includes(a.after, b.after) ? -1 : 1))[0]
      if (next === undefined) {
        const later = files.filter((f) => !states.includes(current, f.after))
        if (later.length > 0) {
          return yield* unreachable(
            "ArchiveGap",
            `no archived file continues from ${show(current)}; the next archived file starts at ${later.map((f) => f.manifest.gtidStateBefore || "''").sort()[0]}`
          )
        }
        return yield* unreachable(
          "AfterLastArchivedTransaction",
          `the archive ends at ${show(current)}${
            chain.length === 0
              ? ""
              : ` (${chain.at(-1)?.manifest.file}, last event ${chain.at(-1)?.manifest.lastEventTime})`
          }`
        )
      }
      chain.push(next)
      current = states.advance(current, next.after)
    }

    if (target._tag === "Gtid" && targetGtid !== undefined) {
      const named = states.sources(targetGtid)
      const checked = states.lastFileMayHoldUnnamedSources ? chain.slice(0, -1) : chain
      const advanced = new Set(checked.flatMap((f) => states.advancedSources(f.before, f.after)))
      const omitted = [...advanced]
        .filter((source) => !named.has(source))
        .sort((a, b) => a.localeCompare(b, "en", { numeric: true }))
      if (omitted.length > 0) {
        const noun = states.sourceNoun
        return yield* unreachable(
          "DomainNotInTarget",
          `the files to replay hold transactions of ${noun} ${omitted.join(", ")}, which the target does not name; name every ${noun}'s GTID`
        )
      }
      return {
        backup,
        files: chain.map((f) => f.manifest),
        startPosition: backup.endGTID,
        stopPosition: states.format(states.stopState(start, targetGtid)),
        flavor
      }
    }
    return {
      backup,
      files: chain.map((f) => f.manifest),
      startPosition: backup.endGTID,
      ...(target._tag === "Time" ? { stopTime: target.time } : {}),
      flavor
    }
  })
