/**
 * The manifest's reading of a binlog file (`src/pitr/binlogFile.ts`) on files built here byte for byte, for
 * MySQL 8.4 (no MySQL server is installed on this machine) and for MariaDB next to it.
 *
 * The layouts, from the MySQL source (`libs/mysql/binlog/event/binlog_event.h`, `control_events.h`,
 * `sql/rpl_gtid_set.cc` `Gtid_set::encode`) and the MariaDB replication protocol pages:
 * - every event: a 19-byte header (timestamp u32, type u8, server id u32, event size u32 including the 4-byte
 *   CRC32 trailer, next position u32, flags u16; little-endian), the body, the CRC32 (its value is not read);
 * - the file: magic `fe 62 69 6e`, then `Format_description` (15), then the state before the file;
 * - MySQL `Previous_gtids` (35): n_sids u64 (high byte 0 = untagged), per sid: uuid (16 bytes, in text order),
 *   n_intervals u64, per interval start u64 and end u64, the end exclusive;
 * - MySQL `Gtid` (33): flags u8, uuid 16 bytes, gno u64, then the logical clock (type u8 = 2, last_committed
 *   u64, sequence_number u64) and the commit timestamps;
 * - MariaDB `Gtid_list` (163): count u32, per domain: domain u32, server u32, seq u64; `Gtid` (162): seq u64,
 *   domain u32, flags u8.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { summarizeBinlogFile } from "../../src/pitr/binlogFile.ts"
import { formatGtidSet, type GtidSet, parseGtidSet } from "../../src/pitr/gtidSet.ts"

const u8 = (n: number) => Uint8Array.of(n)
const u16 = (n: number) => {
  const b = new Uint8Array(2)
  new DataView(b.buffer).setUint16(0, n, true)
  return b
}
const u32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, true)
  return b
}
const u64 = (n: bigint) => {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, n, true)
  return b
}
const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
const uuidBytes = (uuid: string): Uint8Array =>
  Uint8Array.from(uuid.replaceAll("-", "").match(/../gu) ?? [], (h) => parseInt(h, 16))

interface Ev {
  readonly type: number
  readonly time: number
  readonly body: Uint8Array
  readonly server?: number
}

/** A binlog file: magic, then each event with its header and a CRC32 trailer (zeros: not verified). */
const binlogFile = (events: ReadonlyArray<Ev>, server = 7): Uint8Array => {
  const parts: Array<Uint8Array> = [Uint8Array.of(0xfe, 0x62, 0x69, 0x6e)]
  let position = 4
  for (const e of events) {
    const size = 19 + e.body.length + 4
    position += size
    parts.push(u32(e.time), u8(e.type), u32(e.server ?? server), u32(size), u32(position), u16(0), e.body, u32(0))
  }
  return concat(...parts)
}

const serverVersion = (text: string) => concat(new TextEncoder().encode(text), new Uint8Array(50 - text.length))
/** binlog version 4, server version, create time, header length 19, post-header lengths, checksum CRC32. */
const formatDescription = (time: number, version: string): Ev => ({
  type: 15,
  time,
  body: concat(u16(4), serverVersion(version), u32(0), u8(19), new Uint8Array(41).fill(0), u8(1))
})

const previousGtids = (time: number, set: GtidSet, header?: bigint): Ev => ({
  type: 35,
  time,
  body: concat(
    u64(header ?? BigInt(set.size)),
    ...[...set.entries()].flatMap(([uuid, intervals]) => [
      uuidBytes(uuid),
      u64(BigInt(intervals.length)),
      ...intervals.flatMap(([first, last]) => [u64(first), u64(last + 1n)])
    ])
  )
})

/** flags, uuid, gno, logical clock, immediate commit timestamp (7 bytes), transaction length, server version. */
const mysqlGtid = (time: number, uuid: string, gno: bigint): Ev => ({
  type: 33,
  time,
  body: concat(
    u8(1),
    uuidBytes(uuid),
    u64(gno),
    u8(2),
    u64(0n),
    u64(1n),
    new Uint8Array(7).fill(3),
    u8(200),
    u32(80403)
  )
})
const query = (time: number, sql: string): Ev => ({
  type: 2,
  time,
  body: concat(u32(1), u32(0), u8(0), u16(0), u16(0), new Uint8Array(1), new TextEncoder().encode(sql))
})
const xid = (time: number): Ev => ({ type: 16, time, body: u64(42n) })
const rotate = (time: number, next: string): Ev => ({
  type: 4,
  time,
  body: concat(u64(4n), new TextEncoder().encode(next))
})
const transaction = (time: number, uuid: string, gno: bigint): ReadonlyArray<Ev> => [
  mysqlGtid(time, uuid, gno),
  query(time, "BEGIN"),
  xid(time)
]

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
