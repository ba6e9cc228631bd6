/**
 * Binlog files built byte for byte, for the tests that read them (`binlogFile.test.ts`) and feed them to the
 * archiver (`archiverMysql.test.ts`): no MySQL server is installed on this machine.
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
import type { GtidSet } from "../../src/pitr/gtidSet.ts"

export const u8 = (n: number) => Uint8Array.of(n)
const u16 = (n: number) => {
  const b = new Uint8Array(2)
  new DataView(b.buffer).setUint16(0, n, true)
  return b
}
export const u32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, true)
  return b
}
export const u64 = (n: bigint) => {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, n, true)
  return b
}
export const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
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

export interface Ev {
  readonly type: number
  readonly time: number
  readonly body: Uint8Array
  readonly server?: number
}

/** A binlog file: magic, then each event with its header and a CRC32 trailer (zeros: not verified). */
export const binlogFile = (events: ReadonlyArray<Ev>, server = 7): Uint8Array => {
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
export const formatDescription = (time: number, version: string): Ev => ({
  type: 15,
  time,
  body: concat(u16(4), serverVersion(version), u32(0), u8(19), new Uint8Array(41).fill(0), u8(1))
})

export const previousGtids = (time: number, set: GtidSet, header?: bigint): Ev => ({
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
export const mysqlGtid = (time: number, uuid: string, gno: bigint): Ev => ({
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
export const xid = (time: number): Ev => ({ type: 16, time, body: u64(42n) })
export const rotate = (time: number, next: string): Ev => ({
  type: 4,
  time,
  body: concat(u64(4n), new TextEncoder().encode(next))
})
export const transaction = (time: number, uuid: string, gno: bigint): ReadonlyArray<Ev> => [
  mysqlGtid(time, uuid, gno),
  query(time, "BEGIN"),
  xid(time)
]
