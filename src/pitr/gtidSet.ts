/**
 * MySQL 8.4 GTID sets as values (`3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,…`, and 8.4's tagged form
 * `uuid:tag:1-5`): a set maps each source (a server uuid, or uuid plus tag) to disjoint, sorted, merged
 * intervals of transaction numbers. Unlike a MariaDB GTID position (`gtid.ts`, one last sequence number per
 * domain), a set can have holes, so inclusion, union and difference are interval arithmetic.
 *
 * The replay of a MySQL recovery is `mysqlbinlog --exclude-gtids=<backup set> --include-gtids=<target set>`
 * (research note, section 4; `replay.ts`): exactly the target's transactions the backup lacks, each file read
 * once. Pure and unit-tested; MySQL itself is not installed here.
 *
 * @since 0.2.0
 */

/** Closed intervals `[first, last]`, sorted, disjoint and not adjacent. */
export type Intervals = ReadonlyArray<readonly [bigint, bigint]>

/** A GTID set: source (`uuid` or `uuid:tag`) → its intervals; sources with no interval are absent. */
export type GtidSet = ReadonlyMap<string, Intervals>

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u
const tagPattern = /^[a-z_][a-z0-9_]{0,31}$/u
const intervalPattern = /^(\d{1,19})(?:-(\d{1,19}))?$/u

/** Sorts and merges overlapping or adjacent intervals. */
const normalise = (intervals: ReadonlyArray<readonly [bigint, bigint]>): Intervals => {
  const sorted = [...intervals].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const merged: Array<[bigint, bigint]> = []
  for (const [first, last] of sorted) {
    const previous = merged.at(-1)
    if (previous === undefined || first > previous[1] + 1n) merged.push([first, last])
    // bigints: Math.max does not take them
    else if (last > previous[1]) previous[1] = last
  }
  return merged
}

const fromEntries = (entries: Iterable<readonly [string, ReadonlyArray<readonly [bigint, bigint]>]>): GtidSet => {
  const set = new Map<string, Intervals>()
  for (const [source, intervals] of entries) {
    const merged = normalise([...(set.get(source) ?? []), ...intervals])
    if (merged.length > 0) set.set(source, merged)
  }
  return set
}

/** Parses a GTID set as the server prints it (whitespace and newlines allowed); `undefined` when malformed. */
export const parseGtidSet = (text: string): GtidSet | undefined => {
  const compact = text.replace(/\s+/gu, "").toLowerCase()
  if (compact === "") return new Map()
  const entries: Array<readonly [string, ReadonlyArray<readonly [bigint, bigint]>]> = []
  for (const part of compact.split(",")) {
    const [uuid, ...segments] = part.split(":")
    if (uuid === undefined || !uuidPattern.test(uuid) || segments.length === 0) return undefined
    let source = uuid
    let intervals: Array<readonly [bigint, bigint]> = []
    let sawInterval = false
    for (const segment of segments) {
      const m = intervalPattern.exec(segment)
      if (m === null) {
        if (!tagPattern.test(segment)) return undefined
        entries.push([source, intervals])
        source = `${uuid}:${segment}`
        intervals = []
        sawInterval = false
        continue
      }
      const first = BigInt(m[1] ?? "0")
      const last = m[2] === undefined ? first : BigInt(m[2])
      if (first < 1n || last < first) return undefined
      intervals.push([first, last])
      sawInterval = true
    }
    if (!sawInterval) return undefined
    entries.push([source, intervals])
  }
  return fromEntries(entries)
}

/** The canonical text of a set: sources sorted, intervals merged (`uuid:1-5:7,uuid:tag:1-2`). */
export const formatGtidSet = (set: GtidSet): string =>
  [...set.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(
      ([source, intervals]) =>
        `${source}:${intervals.map(([first, last]) => (first === last ? `${first}` : `${first}-${last}`)).join(":")}`
    )
    .join(",")

/** Every transaction of `a` and of `b`. */
export const union = (a: GtidSet, b: GtidSet): GtidSet => fromEntries([...a.entries(), ...b.entries()])

/** The transactions of `a` that `b` does not hold. */
export const subtract = (a: GtidSet, b: GtidSet): GtidSet => {
  const result: Array<readonly [string, ReadonlyArray<readonly [bigint, bigint]>]> = []
  for (const [source, intervals] of a.entries()) {
    let remaining: Array<readonly [bigint, bigint]> = [...intervals]
    for (const [cutFirst, cutLast] of b.get(source) ?? []) {
      remaining = remaining.flatMap(([first, last]): Array<readonly [bigint, bigint]> => {
        if (cutLast < first || cutFirst > last) return [[first, last]]
        return [
          ...(first < cutFirst ? [[first, cutFirst - 1n] as const] : []),
          ...(cutLast < last ? [[cutLast + 1n, last] as const] : [])
        ]
      })
    }
    result.push([source, remaining])
  }
  return fromEntries(result)
}

/** Whether `a` holds every transaction of `b`. */
export const includesSet = (a: GtidSet, b: GtidSet): boolean => subtract(b, a).size === 0
