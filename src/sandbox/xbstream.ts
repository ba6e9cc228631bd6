/**
 * Walking an xbstream (the archive format of XtraBackup and mariabackup) by chunk, to damage archives exactly at
 * chunk boundaries: the one place where `mbstream -x` accepts a cut stream and exits 0.
 *
 * @since 0.1.0
 */

/**
 * Offsets at which an xbstream chunk starts (plus the stream's end). Layout per chunk: magic `XBSTCK01`,
 * flags (1), type (1), path length (4 LE), path, then for every type but `E` (end of file): payload length
 * (8 LE), payload offset (8 LE), checksum (4), payload.
 */
export const chunkBoundaries = (bytes: Uint8Array): Array<number> => {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const out: Array<number> = []
  let at = 0
  while (at < view.length) {
    if (view.toString("latin1", at, at + 8) !== "XBSTCK01") throw new Error(`no chunk magic at ${at}`)
    out.push(at)
    const type = String.fromCharCode(view[at + 9] ?? 0)
    const pathLength = view.readUInt32LE(at + 10)
    let next = at + 14 + pathLength
    if (type !== "E") {
      const payload = Number(view.readBigUInt64LE(next))
      next += 8 + 8 + 4 + payload
    }
    at = next
  }
  out.push(view.length)
  return out
}
