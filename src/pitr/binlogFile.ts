/**
 * Reads what a manifest records from the bytes of a completed MariaDB binlog file, without a server: the
 * `Gtid_list` event (the GTID state before the file), every `Gtid` event, the first and last event times and the
 * writing server's id. Parsing the format directly keeps the archiver free of a second `mariadb-binlog` run per
 * file, and works on exactly the bytes that were uploaded.
 *
 * Event layout (binlog v4): a 19-byte header (timestamp u32, type u8, server id u32, size u32 including any
 * CRC32 trailer, next position u32, flags u16) then the body. Only the bodies of `Gtid_list` and `Gtid` events are
 * read, so the checksum setting does not matter here; the archive's own integrity is the manifest's SHA-256.
 *
 * @since 0.2.0
 */
import { Data, Effect } from "effect"
import { type DomainGtid, formatGtidList, type GtidPosition, mergePositions } from "./gtid.ts"

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
const GtidEvent = 162
const GtidListEvent = 163

const summarize = (bytes: Uint8Array): BinlogFileSummary => {
  if (bytes.length < 4 || Magic.some((b, i) => bytes[i] !== b)) {
    throw new BinlogFileInvalid({ detail: "no binlog magic number" })
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let offset = 4
  let serverId: number | undefined
  let before: GtidPosition | undefined
  const after = new Map<number, DomainGtid>()
  let firstGTID: string | undefined
  let lastGTID: string | undefined
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
    const body = offset + HeaderLength
    if (type === FormatDescriptionEvent) {
      serverId ??= eventServer
    } else if (type === GtidListEvent && before === undefined) {
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
    } else if (type === GtidEvent) {
      const seq = view.getBigUint64(body, true)
      const domain = view.getUint32(body + 8, true)
      const gtid = `${domain}-${eventServer}-${seq}`
      firstGTID ??= gtid
      lastGTID = gtid
      after.set(domain, { server: eventServer, seq })
    }
    if (events === 0) firstEventSeconds = timestamp
    lastEventSeconds = Math.max(lastEventSeconds, timestamp)
    events++
    offset += size
  }
  if (serverId === undefined) throw new BinlogFileInvalid({ detail: "no format description event" })
  const start = before ?? new Map<number, DomainGtid>()
  return {
    serverId,
    gtidStateBefore: formatGtidList(start),
    gtidStateAfter: formatGtidList(mergePositions(start, after)),
    ...(firstGTID === undefined ? {} : { firstGTID }),
    ...(lastGTID === undefined ? {} : { lastGTID }),
    firstEventSeconds,
    lastEventSeconds,
    events
  }
}

/** Summarises a whole binlog file; a truncated last event is an error (only complete files are archived). */
export const summarizeBinlogFile = (bytes: Uint8Array): Effect.Effect<BinlogFileSummary, BinlogFileInvalid> =>
  Effect.try({
    try: () => summarize(bytes),
    catch: (error) => (error instanceof BinlogFileInvalid ? error : new BinlogFileInvalid({ detail: String(error) }))
  })
