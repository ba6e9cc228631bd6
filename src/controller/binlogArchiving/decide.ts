/**
 * The archiving part of a Cluster's status, decided purely from what the archiver reported and the Cluster's
 * completed Backups: the `ContinuousArchiving` condition, `status.binlogArchive` and `status.recoverabilityWindow`
 * (docs/pitr.md). The controller never reads the archive: the archiver's `/status` gives the archive's gap-free
 * runs, and the Backups' status gives where each base backup ends.
 *
 * The window starts at the oldest completed Backup whose end state lies in the archive's newest gap-free run
 * (every transaction after it is archived) and ends where that run ends. Backups cut off by a gap, or newer than
 * the archive, do not start it.
 *
 * @since 0.2.0
 */
import type { Backup } from "../../api/backup.ts"
import type { ArchiverStatus, ArchiveSegment } from "../../api/binlogArchive.ts"
import type { BinlogArchiveStatus, ClusterStatus, RecoverabilityWindow } from "../../api/cluster.ts"
import type { FlavorName } from "../../api/common.ts"
import { flavorOf } from "../../instance/flavor.ts"
import { findCondition, setCondition } from "../conditions.ts"
import type { PendingEvent } from "../Events.ts"

/** The condition type. */
export const continuousArchiving = "ContinuousArchiving"

/** What a completed Backup says about where it ends. */
export interface CompletedBackup {
  readonly name: string
  readonly endGTID: string
  readonly stoppedAt: string
}

/** The completed Backups of `cluster` that name their end (`endGTID`, `stoppedAt`). */
export const completedBackupsOf = (backups: ReadonlyArray<Backup>, cluster: string): ReadonlyArray<CompletedBackup> =>
  backups.flatMap((b) =>
    b.spec.cluster.name === cluster &&
    b.status?.phase === "completed" &&
    b.status.endGTID !== undefined &&
    b.status.stoppedAt !== undefined
      ? [{ name: b.metadata.name ?? "", endGTID: b.status.endGTID, stoppedAt: b.status.stoppedAt }]
      : []
  )

/** Why there is no window. */
export type NoWindowReason = "NothingArchived" | "NoBaseBackup" | "ArchiveGap" | "ArchiveBehindBackup"

export type WindowResult =
  | { readonly _tag: "Window"; readonly window: RecoverabilityWindow }
  | { readonly _tag: "None"; readonly reason: NoWindowReason; readonly message: string }

/** Whether one state of `flavor` includes another; a text that is not one of the flavour's includes nothing. */
const includesState = (flavor: FlavorName, a: string, b: string): boolean => {
  const states = flavorOf(flavor).gtidStates
  const [x, y] = [states.parse(a), states.parse(b)]
  return x !== undefined && y !== undefined && states.includes(x, y)
}

/** Whether every transaction after `backup`'s end up to the run's end is archived in `run`. */
export const continues = (run: ArchiveSegment, backup: CompletedBackup, flavor: FlavorName = "mariadb"): boolean =>
  includesState(flavor, backup.endGTID, run.startState) && includesState(flavor, run.endState, backup.endGTID)

const byStop = (a: CompletedBackup, b: CompletedBackup): number =>
  Date.parse(a.stoppedAt) - Date.parse(b.stoppedAt) || a.name.localeCompare(b.name)

/** The recoverability window from the completed backups and the archive's gap-free runs (oldest first). */
export const recoverabilityWindow = (
  backups: ReadonlyArray<CompletedBackup>,
  segments: ReadonlyArray<ArchiveSegment>,
  flavor: FlavorName = "mariadb"
): WindowResult => {
  const run = segments.at(-1)
  if (run === undefined) return { _tag: "None", reason: "NothingArchived", message: "no binlog file is archived yet" }
  if (backups.length === 0) {
    return { _tag: "None", reason: "NoBaseBackup", message: "there is no completed base backup to replay from" }
  }
  const base = backups.filter((b) => continues(run, b, flavor)).sort(byStop)[0]
  if (base === undefined) {
    const cutOff = backups.some((b) => includesState(flavor, run.endState, b.endGTID))
    return cutOff
      ? {
          _tag: "None",
          reason: "ArchiveGap",
          message: `the archive has a gap: its gap-free part starts at ${run.startState || "''"} (${run.firstFile}), after every completed base backup ends; take a new backup`
        }
      : {
          _tag: "None",
          reason: "ArchiveBehindBackup",
          message: `every completed base backup ends after the archive (${run.endState || "''"}, ${run.lastFile}); the window opens once the archive passes one`
        }
  }
  return {
    _tag: "Window",
    window: {
      baseBackup: base.name,
      firstRecoverableGTID: base.endGTID,
      firstRecoverableTime: base.stoppedAt,
      lastRecoverableGTID: run.endState,
      lastRecoverableTime: run.lastEventTime
    }
  }
}

/** What the reconciler saw of the archiver. */
export type ArchiverObservation =
  | { readonly _tag: "Disabled" }
  | { readonly _tag: "NoPod"; readonly deployment: string }
  /** Its Pod waits for the object store's Secret or key (`objectStoreSecretWait.ts`). */
  | { readonly _tag: "SecretMissing"; readonly reason: string; readonly message: string }
  | { readonly _tag: "Unreachable"; readonly detail: string }
  | { readonly _tag: "Reported"; readonly status: ArchiverStatus }

interface Verdict {
  readonly status: "True" | "False"
  readonly reason: string
  readonly message: string
}

const binlogArchiveOf = (report: ArchiverStatus): BinlogArchiveStatus | undefined =>
  report.lastArchived === undefined
    ? undefined
    : {
        lastArchivedFile: report.lastArchived.file,
        lastArchivedGTID: report.lastArchived.gtidState,
        lastArchivedTime: report.lastArchived.eventTime,
        ...(report.caughtUp === undefined ? {} : { caughtUp: report.caughtUp })
      }

const describeWindow = (w: RecoverabilityWindow): string =>
  `recoverable from backup ${w.baseBackup} (${w.firstRecoverableGTID || "''"}, ${w.firstRecoverableTime}) to ${w.lastRecoverableGTID || "''"} (${w.lastRecoverableTime})`

type Parts = {
  readonly verdict: Verdict | undefined
  readonly binlogArchive: BinlogArchiveStatus | undefined
  readonly window: RecoverabilityWindow | undefined
}

const partsOf = (
  observation: ArchiverObservation,
  backups: ReadonlyArray<CompletedBackup>,
  previous: ClusterStatus,
  flavor: FlavorName
): Parts => {
  // what the archive held stays true while the archiver is away: keep the last report's figures
  const kept = { binlogArchive: previous.binlogArchive, window: previous.recoverabilityWindow }
  const notReady = (message: string): Parts => ({
    ...kept,
    verdict: { status: "False", reason: "ArchiverNotReady", message }
  })
  switch (observation._tag) {
    case "Disabled":
      return { verdict: undefined, binlogArchive: undefined, window: undefined }
    case "NoPod":
      return notReady(`no running Pod of Deployment ${observation.deployment} has an IP yet`)
    case "Unreachable":
      return notReady(observation.detail)
    case "SecretMissing":
      return { ...kept, verdict: { status: "False", reason: observation.reason, message: observation.message } }
  }
  const report = observation.status
  switch (report.state) {
    case "starting":
      return notReady(`the archiver is starting: ${report.message ?? ""}`.trim())
    case "failed":
      return { ...kept, verdict: { status: "False", reason: "ArchiverFailed", message: report.message ?? "failed" } }
    case "ownedByOtherCluster":
      // nothing of this Cluster is archived there: no figures
      return {
        binlogArchive: undefined,
        window: undefined,
        verdict: { status: "False", reason: "ArchiveOwnedByOtherCluster", message: report.message ?? "" }
      }
    case "serverUnreachable":
    case "ok": {
      const result = recoverabilityWindow(backups, report.segments, flavor)
      const window = result._tag === "Window" ? result.window : undefined
      const binlogArchive = binlogArchiveOf(report)
      if (report.state === "serverUnreachable") {
        return {
          binlogArchive,
          window,
          verdict: { status: "False", reason: "SourceUnreachable", message: report.message ?? "" }
        }
      }
      const following = `archiving series ${report.series ?? ""}`
      const verdict: Verdict =
        result._tag === "Window"
          ? { status: "True", reason: "Archiving", message: `${following}; ${describeWindow(result.window)}` }
          : result.reason === "ArchiveGap"
            ? { status: "False", reason: "ArchiveGap", message: result.message }
            : {
                status: "True",
                reason: "Archiving",
                message: `${following}; nothing is recoverable yet: ${result.message}`
              }
      return { binlogArchive, window, verdict }
    }
  }
}

/**
 * `status` with the archiving part decided at `now`: the condition (removed when archiving is disabled), the
 * archive's figures and the window. An Event when the condition's status or reason changes: Warning for a False
 * reason other than `ArchiverNotReady` (a starting archiver is not a fault), Normal otherwise.
 */
export const decideArchiving = (
  input: {
    readonly status: ClusterStatus
    readonly observation: ArchiverObservation
    readonly backups: ReadonlyArray<CompletedBackup>
    readonly generation?: number | undefined
    /** The Cluster's flavour (default MariaDB): how GTID states compare. */
    readonly flavor?: FlavorName
  },
  now: string
): { readonly status: ClusterStatus; readonly events: ReadonlyArray<PendingEvent> } => {
  const { status } = input
  const parts = partsOf(input.observation, input.backups, status, input.flavor ?? "mariadb")
  const { binlogArchive: _archive, recoverabilityWindow: _window, ...rest } = status
  const previous = findCondition(status.conditions, continuousArchiving)
  const verdict = parts.verdict
  const conditions =
    verdict === undefined
      ? status.conditions?.filter((c) => c.type !== continuousArchiving)
      : setCondition(status.conditions, { type: continuousArchiving, ...verdict }, now, input.generation)
  const next: ClusterStatus = {
    ...rest,
    ...(parts.binlogArchive === undefined ? {} : { binlogArchive: parts.binlogArchive }),
    ...(parts.window === undefined ? {} : { recoverabilityWindow: parts.window }),
    ...(conditions === undefined ? {} : { conditions })
  }
  const changed = verdict !== undefined && (previous?.status !== verdict.status || previous.reason !== verdict.reason)
  const events: ReadonlyArray<PendingEvent> = changed
    ? [
        {
          type: verdict.status === "False" && verdict.reason !== "ArchiverNotReady" ? "Warning" : "Normal",
          reason: verdict.reason,
          message: verdict.message
        }
      ]
    : []
  return { status: next, events }
}
