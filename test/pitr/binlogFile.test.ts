/**
 * The manifest's reading of a binlog file (`src/pitr/binlogFile.ts`) on files built here byte for byte, for
 * MySQL 8.4 (no MySQL server is installed on this machine) and for MariaDB next to it. The files are built by
 * `binlogEvents.ts`, which cites the layouts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { summarizeBinlogFile } from "../../src/pitr/binlogFile.ts"
import { formatGtidSet, type GtidSet, parseGtidSet } from "../../src/pitr/gtidSet.ts"
import {
  binlogFile,
  concat,
  type Ev,
  formatDescription,
  mysqlGtid,
  previousGtids,
  rotate,
  transaction,
  u8,
  u32,
  u64,
  xid
} from "./binlogEvents.ts"

const a = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
const b = "6b7f1a2c-0000-4000-8000-000000000001"
const set = (text: string): GtidSet => parseGtidSet(text) ?? new Map()

describe("MySQL 8.4 binlog files", () => {
  it.effect("Previous_gtids is the state before (holes kept, ends exclusive); each Gtid event a uuid:gno", () =>
    Effect.gen(function* () {
      const file = binlogFile([
        formatDescription(1_700_000_000, "8.4.3"),
        previousGtids(1_700_000_000, set(`${a}:1-10:12-15,${b}:1-3`)),
        ...transaction(1_700_000_005, a, 16n),
        ...transaction(1_700_000_009, b, 4n),
        ...transaction(1_700_000_007, a, 17n),
        rotate(1_700_000_011, "binlog.000008")
      ])
      const summary = yield* summarizeBinlogFile(file, "mysql")
      assert.deepStrictEqual(summary, {
        serverId: 7,
        gtidStateBefore: `${a}:1-10:12-15,${b}:1-3`,
        gtidStateAfter: `${a}:1-10:12-17,${b}:1-4`,
        firstGTID: `${a}:16`,
        lastGTID: `${a}:17`,
        firstEventSeconds: 1_700_000_000,
        lastEventSeconds: 1_700_000_011,
        events: 12
      })
    })
  )

  it.effect("a file without transactions, and a fresh server's empty Previous_gtids", () =>
    Effect.gen(function* () {
      const file = binlogFile([formatDescription(100, "8.4.3"), previousGtids(100, new Map()), rotate(160, "b.2")], 3)
      const summary = yield* summarizeBinlogFile(file, "mysql")
      assert.deepStrictEqual(
        [summary.gtidStateBefore, summary.gtidStateAfter, summary.firstGTID, summary.serverId],
        ["", "", undefined, 3]
      )
      // a transaction applied from another server keeps that server's uuid; the file's server id is the FDE's
      const replicated = binlogFile([
        formatDescription(100, "8.4.3"),
        previousGtids(100, set(`${b}:1-9`)),
        { ...mysqlGtid(101, b, 10n), server: 99 }
      ])
      const other = yield* summarizeBinlogFile(replicated, "mysql")
      assert.deepStrictEqual([other.serverId, other.gtidStateAfter], [7, `${b}:1-10`])
    })
  )

  it.effect("tagged GTIDs and truncated GTID events are BinlogFileInvalid, not misread", () =>
    Effect.gen(function* () {
      const tagged = binlogFile([formatDescription(1, "8.4.3"), previousGtids(1, set(`${a}:1`), (1n << 56n) | 1n)])
      assert.include((yield* Effect.flip(summarizeBinlogFile(tagged, "mysql"))).message, "tagged Previous_gtids")
      const taggedGtid = binlogFile([formatDescription(1, "8.4.3"), { type: 42, time: 1, body: new Uint8Array(40) }])
      assert.include((yield* Effect.flip(summarizeBinlogFile(taggedGtid, "mysql"))).message, "tagged GTID event")
      // n_sids says 2, one sid follows
      const short = binlogFile([formatDescription(1, "8.4.3"), previousGtids(1, set(`${a}:1-3`), 2n)])
      assert.include((yield* Effect.flip(summarizeBinlogFile(short, "mysql"))).message, "Previous_gtids truncated")
      const cut = binlogFile([formatDescription(1, "8.4.3"), { type: 33, time: 1, body: new Uint8Array(10) }])
      assert.include((yield* Effect.flip(summarizeBinlogFile(cut, "mysql"))).message, "Gtid truncated")
    })
  )

  it.effect.prop(
    "any untagged set written as Previous_gtids reads back as that set",
    {
      entries: Schema.Array(
        Schema.Tuple([
          Schema.Literals([a, b]),
          Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 40 })),
          Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 6 }))
        ])
      )
    },
    ({ entries }) =>
      Effect.gen(function* () {
        const written = set(entries.map(([uuid, first, length]) => `${uuid}:${first}-${first + length}`).join(","))
        const file = binlogFile([formatDescription(5, "8.4.3"), previousGtids(5, written)])
        const summary = yield* summarizeBinlogFile(file, "mysql")
        assert.strictEqual(summary.gtidStateBefore, formatGtidSet(written))
        assert.strictEqual(summary.gtidStateAfter, formatGtidSet(written))
      })
  )
})

describe("MariaDB binlog files (the same reader, MariaDB's events)", () => {
  const gtidList = (time: number, list: ReadonlyArray<readonly [number, number, bigint]>): Ev => ({
    type: 163,
    time,
    body: concat(u32(list.length), ...list.flatMap(([domain, server, seq]) => [u32(domain), u32(server), u64(seq)]))
  })
  const mariadbGtid = (time: number, domain: number, seq: bigint, server: number): Ev => ({
    type: 162,
    time,
    server,
    body: concat(u64(seq), u32(domain), u8(0))
  })

  it.effect("Gtid_list is the state before; Gtid events advance their domain with the header's server id", () =>
    Effect.gen(function* () {
      const file = binlogFile(
        [
          formatDescription(50, "10.11.19-MariaDB"),
          gtidList(50, [
            [0, 1, 14n],
            [1, 2, 3n]
          ]),
          mariadbGtid(52, 0, 15n, 1),
          xid(52),
          mariadbGtid(53, 1, 4n, 5),
          xid(54)
        ],
        1
      )
      assert.deepStrictEqual(yield* summarizeBinlogFile(file), {
        serverId: 1,
        gtidStateBefore: "0-1-14,1-2-3",
        gtidStateAfter: "0-1-15,1-5-4",
        firstGTID: "0-1-15",
        lastGTID: "1-5-4",
        firstEventSeconds: 50,
        lastEventSeconds: 54,
        events: 6
      })
    })
  )
})
