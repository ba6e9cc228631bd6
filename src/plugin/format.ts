/**
 * What the kubectl plugin prints, as pure functions: kubectl-style tables, ages and durations, byte sizes, and
 * the progress line of `backup --wait`.
 *
 * @since 0.1.0
 */
import type { BackupProgress } from "../api/backup.ts"

/** A table with an upper-case header row and columns padded to their widest cell, as `kubectl get` prints. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("   ")
      .trimEnd()
  return [line(header.map((title) => title.toUpperCase())), ...rows.map(line)].join("\n")
}

/** kubectl's short durations: `45s`, `3m12s`, `5h3m`, `2d4h`, `400d`. */
export const shortDuration = (millis: number): string => {
  const seconds = Math.max(0, Math.floor(millis / 1000))
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 10) return `${minutes}m${seconds % 60 === 0 ? "" : `${seconds % 60}s`}`
  if (minutes < 180) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours}h${minutes % 60 === 0 ? "" : `${minutes % 60}m`}`
  const days = Math.floor(hours / 24)
  return days < 8 ? `${days}d${hours % 24 === 0 ? "" : `${hours % 24}h`}` : `${days}d`
}

/** Binary byte sizes: `512 B`, `1.5 KiB`, `3.2 GiB`. */
export const bytes = (n: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`
}

/** The age of an object from its RFC 3339 time, or `<unknown>`. */
export const age = (time: string | undefined, nowMillis: number): string => {
  const millis = time === undefined ? Number.NaN : Date.parse(time)
  return Number.isNaN(millis) ? "<unknown>" : shortDuration(nowMillis - millis)
}

/** The duration between two RFC 3339 times, or empty. */
export const between = (from: string | undefined, to: string | undefined): string => {
  const a = from === undefined ? Number.NaN : Date.parse(from)
  const b = to === undefined ? Number.NaN : Date.parse(to)
  return Number.isNaN(a) || Number.isNaN(b) ? "" : shortDuration(b - a)
}

/**
 * The progress line of a running backup: a bar when the total is estimated, the bytes, the rate and the ETA:
 * `[########............] 40% 1.20 GiB / 3.00 GiB  45.2 MiB/s  ETA 41s`.
 */
export const progressLine = (progress: BackupProgress, width = 20): string => {
  const done = progress.bytesStreamed
  const rate = `${bytes(progress.bytesPerSecond)}/s`
  const total = progress.estimatedTotalBytes
  if (total === undefined || total <= 0)
    return `${bytes(done)} streamed  ${rate}  ${shortDuration(progress.elapsedSeconds * 1000)} elapsed`
  const fraction = Math.min(1, done / total)
  const filled = Math.round(fraction * width)
  const eta =
    progress.bytesPerSecond > 0
      ? shortDuration(((Math.max(0, total - done) / progress.bytesPerSecond) * 1000) | 0)
      : "?"
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${Math.floor(fraction * 100)}% ${bytes(done)} / ${bytes(total)}  ${rate}  ETA ${eta}`
}
