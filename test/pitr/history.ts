/**
 * A single-domain binlog history for the pure tests of the recovery plan and of retention: transaction k is
 * GTID 0-1-k, committed at second 10*k; each file opens just after its predecessor's last transaction and closes
 * just after its own.
 */
import type { BinlogManifest } from "../../src/api/binlogArchive.ts"

/** The GTID state after `seq` transactions ('' before the first). */
export const gtidState = (seq: number): string => (seq === 0 ? "" : `0-1-${seq}`)

/** The manifest of file `index` (0-based) holding transactions `first`+1 … `last`; `at` turns seconds into a time. */
export const historyManifest =
  (at: (seconds: number) => string) =>
  (index: number, first: number, last: number): BinlogManifest => ({
    version: 1,
    cluster: "c",
    flavor: "mariadb",
    series: "server-1",
    file: `mysql-bin.${String(index + 1).padStart(6, "0")}`,
    size: 256 + 100 * (last - first),
    sha256: "0".repeat(64),
    serverId: 1,
    gtidStateBefore: gtidState(first),
    gtidStateAfter: gtidState(last),
    ...(last > first ? { firstGTID: `0-1-${first + 1}`, lastGTID: `0-1-${last}` } : {}),
    firstEventTime: at(10 * first + 1),
    lastEventTime: at(10 * last + 2),
    archivedAt: at(10 * last + 3)
  })
