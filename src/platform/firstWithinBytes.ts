/**
 * The longest prefix of a list that fits a byte budget as a JSON array: what a termination message (4096 bytes,
 * counted in bytes, not characters) can name of a longer list.
 *
 * @since 0.2.0
 */

/** The first items, at most `count` of them, whose JSON array takes at most `bytes` bytes of UTF-8. */
export const firstWithinBytes = <A>(items: ReadonlyArray<A>, count: number, bytes: number): ReadonlyArray<A> => {
  // the brackets, then each item and the comma before all but the first
  let used = 2
  const taken: Array<A> = []
  for (const item of items.slice(0, count)) {
    used += Buffer.byteLength(JSON.stringify(item)) + (taken.length === 0 ? 0 : 1)
    if (used > bytes) break
    taken.push(item)
  }
  return taken
}
