/**
 * The binlog archiver's rotation, done by the instance manager so the archiver needs no admin privilege: close
 * the primary's open binlog file (`FLUSH BINARY LOGS`, which the backup account's `RELOAD` allows and which is
 * itself not binlogged) when that file holds transactions. A file that holds none stays open, so an idle server
 * does not fill the archive with empty files; the recovery point objective is then met without rotating.
 *
 * @since 0.2.0
 */
import { Effect } from "effect"
import { type DatabaseAccess, DatabaseUnavailable, queryStatus, runSql } from "./database.ts"
import type { FlushResult } from "./protocol.ts"

/** Domains in ascending order, so two spellings of one GTID state compare equal. */
const canonical = (state: string): string =>
  state
    .split(",")
    .map((gtid) => gtid.trim())
    .filter((gtid) => gtid !== "")
    .sort()
    .join(",")

/** Rotates the open binlog file when it holds transactions. */
export const flushBinaryLogs = Effect.fn("InstanceManager.flushBinaryLogs")(function* (access: DatabaseAccess) {
  const status = yield* queryStatus(access)
  if (status.binlog === null) {
    return yield* new DatabaseUnavailable({ detail: "the server has no binary log to rotate (log_bin is off)" })
  }
  const file = status.binlog.file
  const startQuery = access.flavor.binlogStartStateSql(file)
  const start = startQuery === undefined ? undefined : ((yield* runSql(access, startQuery))[0]?.start ?? "")
  const holdsTransactions = start === undefined || canonical(start) !== canonical(status.executedGtid)
  if (holdsTransactions) yield* runSql(access, "FLUSH BINARY LOGS")
  const result: FlushResult = { rotated: holdsTransactions, file, gtid: status.executedGtid }
  return result
})
