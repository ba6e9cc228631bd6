/**
 * Reads what a manifest records from the bytes of a completed binlog file, without a server: the GTID state
 * before the file, every transaction's GTID, the first and last event times and the writing server's id.
 * Parsing the format directly keeps the archiver free of a second decoder run per file, and works on exactly
 * the bytes that were uploaded.
 *
 * Both flavours write binlog v4: a 19-byte event header (timestamp u32, type u8, server id u32, size u32
 * including any CRC32 trailer, next position u32, flags u16, all little-endian) then the body. Only the bodies
 * of the GTID events are read, so the checksum setting does not matter here; the archive's own integrity is the
 * manifest's SHA-256. What differs is the GTID events (`gtidEvents`):
 * - MariaDB: `Gtid_list` (163: count u32 in the low 28 bits, then per domain domain u32, server u32, seq u64),
 *   the state before the file; `Gtid` (162: seq u64, domain u32; the server is the header's).
 * - MySQL 8.4 (`libs/mysql/binlog/event/control_events.h`, `Gtid_set::encode` in `sql/rpl_gtid_set.cc`):
 *   `Previous_gtids` (35: n_sids u64, then per server uuid its 16 bytes, n_intervals u64 and per interval
 *   start u64, end u64 exclusive), the set before the file; `Gtid` (33: flags u8, uuid 16 bytes, gno u64, …).
 *   A tagged set (the high byte of n_sids is 1) and `Gtid_tagged` (42, 8.3's tagged GTIDs, serialised in
 *   another format) are refused, not misread.
 *
 * @since 0.2.0
 */
import { Data, Effect } from "effect"
import type { FlavorName } from "../api/common.ts"
import { type DomainGtid, formatGtidList, mergePositions } from "./gtid.ts"
import { formatGtidSet, type GtidSet, type Intervals, union } from "./gtidSet.ts"

/** The bytes are not a readable binlog file. */
export class BinlogFileInvalid extends Data.TaggedError("BinlogFileInvalid")<{ readonly detail: string }> {
  override get message(): string {
    return `not a readable binlog file: ${this.detail}`
  }
}

/** What a binlog file says about itself. */
export interface BinlogFileSummary {
  readonly serverId: number
  readonly gtidStateBefore: string
  readonly gtidStateAfter: string
  readonly firstGTID?: string
  readonly lastGTID?: string
  /** Epoch seconds of the first and last event. */
  readonly firstEventSeconds: number
  readonly lastEventSeconds: number
  readonly events: number
}

const Magic = [0xfe, 0x62, 0x69, 0x6e]
const HeaderLength = 19
const FormatDescriptionEvent = 15

/** One event as the flavour's GTID reader sees it. */
interface Event {
  readonly view: DataView
  readonly type: number
  readonly serverId: number
  /** Offset of the body, and of the next event. */
  readonly body: number
  readonly end: number
}

/** A flavour's reading of the GTID events of one file, fed event by event. */
interface GtidReader {
  /** Reads the event if it is a GTID event of this flavour. */
  readonly read: (event: Event) => void
  readonly summary: () => Pick<BinlogFileSummary, "gtidStateBefore" | "gtidStateAfter" | "firstGTID" | "lastGTID">
}

const need = (event: Event, bytes: number, what: string): void => {
  if (event.body + bytes > event.end) throw new BinlogFileInvalid({ detail: `${what} truncated at ${event.body}` })
}

const mariadbReader = (): GtidReader => {
  let before: Map<number, DomainGtid> | undefined
  const after = new Map<number, DomainGtid>()
  let firstGTID: string | undefined
  let lastGTID: string | undefined
  return {
    read: ({ view, type, serverId, body }) => {
      if (type === 163 && before === undefined) {
        const count = view.getUint32(body, true) & 0x0fffffff
        const list = new Map<number, DomainGtid>()
        for (let i = 0; i < count; i++) {
          const at = body + 4 + 16 * i
          list.set(view.getUint32(at, true), {
            server: view.getUint32(at + 4, true),
            seq: view.getBigUint64(at + 8, true)
          })
        }
        before = list
      } else if (type === 162) {
        const seq = view.getBigUint64(body, true)
        const domain = view.getUint32(body + 8, true)
        const gtid = `${domain}-${serverId}-${seq}`
        firstGTID ??= gtid
        lastGTID = gtid
        after.set(domain, { server: serverId, seq })
      }
    },
    summary: () => {
      const start = before ?? new Map<number, DomainGtid>()
      return {
        gtidStateBefore: formatGtidList(start),
        gtidStateAfter: formatGtidList(mergePositions(start, after)),
        ...(firstGTID === undefined ? {} : { firstGTID }),
        ...(lastGTID === undefined ? {} : { lastGTID })
      }
    }
  }
}

const uuidAt = (view: DataView, at: number): string => {
  const hex = Array.from({ length: 16 }, (_, i) =>
    view
      .getUint8(at + i)
      .toString(16)
      .padStart(2, "0")
  ).join("")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

const mysqlReader = (): GtidReader => {
  let before: GtidSet | undefined
  const own = new Map<string, Array<readonly [bigint, bigint]>>()
  let firstGTID: string | undefined
  let lastGTID: string | undefined
  return {
    read: (event) => {
      const { view, type, body } = event
      if (type === 35 && before === undefined) {
        need(event, 8, "Previous_gtids")
        const header = view.getBigUint64(body, true)
        if (header >> 56n !== 0n) {
          throw new BinlogFileInvalid({ detail: "a tagged Previous_gtids set (MySQL 8.3+ GTID tags) is not read" })
        }
        const set = new Map<string, Intervals>()
        let at = body + 8
        for (let sid = 0n; sid < header; sid++) {
          need({ ...event, body: at }, 24, "Previous_gtids")
          const uuid = uuidAt(view, at)
          const count = view.getBigUint64(at + 16, true)
          at += 24
          const intervals: Array<readonly [bigint, bigint]> = []
          for (let i = 0n; i < count; i++) {
            need({ ...event, body: at }, 16, "Previous_gtids")
            // the encoding's end is exclusive; a set's text is inclusive
            intervals.push([view.getBigUint64(at, true), view.getBigUint64(at + 8, true) - 1n])
            at += 16
          }
          set.set(uuid, intervals)
        }
        before = union(new Map(), set)
      } else if (type === 33) {
        need(event, 25, "Gtid")
        const uuid = uuidAt(view, body + 1)
        const gno = view.getBigUint64(body + 17, true)
        const gtid = `${uuid}:${gno}`
        firstGTID ??= gtid
        lastGTID = gtid
        own.set(uuid, [...(own.get(uuid) ?? []), [gno, gno]])
      } else if (type === 42) {
        throw new BinlogFileInvalid({ detail: "a tagged GTID event (MySQL 8.3+ GTID tags) is not read" })
      }
    },
    summary: () => {
      const start = before ?? new Map<string, Intervals>()
      return {
        gtidStateBefore: formatGtidSet(start),
        gtidStateAfter: formatGtidSet(union(start, own)),
        ...(firstGTID === undefined ? {} : { firstGTID }),
        ...(lastGTID === undefined ? {} : { lastGTID })
      }
    }
  }
}

/** Each flavour's GTID events. */
const gtidEvents: Record<FlavorName, () => GtidReader> = { mariadb: mariadbReader, mysql: mysqlReader }

const summarize = (bytes: Uint8Array, flavor: FlavorName): BinlogFileSummary => {
  if (bytes.length < 4 || Magic.some((b, i) => bytes[i] !== b)) {
    throw new BinlogFileInvalid({ detail: "no binlog magic number" })
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const gtids = gtidEvents[flavor]()
  let offset = 4
  let serverId: number | undefined
  let firstEventSeconds = 0
  let lastEventSeconds = 0
  let events = 0
  while (offset < bytes.length) {
    if (offset + HeaderLength > bytes.length) throw new BinlogFileInvalid({ detail: `truncated header at ${offset}` })
    const timestamp = view.getUint32(offset, true)
    const type = view.getUint8(offset + 4)
    const eventServer = view.getUint32(offset + 5, true)
    const size = view.getUint32(offset + 9, true)
    if (size < HeaderLength || offset + size > bytes.length) {
      throw new BinlogFileInvalid({ detail: `truncated event at ${offset}` })
    }
    if (type === FormatDescriptionEvent) serverId ??= eventServer
    gtids.read({ view, type, serverId: eventServer, body: offset + HeaderLength, end: offset + size })
    if (events === 0) firstEventSeconds = timestamp
    lastEventSeconds = Math.max(lastEventSeconds, timestamp)
    events++
    offset += size
  }
  if (serverId === undefined) throw new BinlogFileInvalid({ detail: "no format description event" })
  return { serverId, ...gtids.summary(), firstEventSeconds, lastEventSeconds, events }
}

/**
 * Summarises a whole binlog file of `flavor` (default MariaDB); a truncated last event is an error (only
 * complete files are archived).
 */
export const summarizeBinlogFile = (
  bytes: Uint8Array,
  flavor: FlavorName = "mariadb"
): Effect.Effect<BinlogFileSummary, BinlogFileInvalid> =>
  Effect.try({
    try: () => summarize(bytes, flavor),
    catch: (error) => (error instanceof BinlogFileInvalid ? error : new BinlogFileInvalid({ detail: String(error) }))
  })
