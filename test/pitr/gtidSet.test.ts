/**
 * MySQL 8.4 GTID sets (`src/pitr/gtidSet.ts`), without a MySQL server: parse and format round-trip to the
 * canonical text, union and difference obey set laws on random sets, the 8.4 tagged form, malformed input, and
 * the `mysqlbinlog` replay arguments.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { formatGtidSet, type GtidSet, includesSet, parseGtidSet, subtract, union } from "../../src/pitr/gtidSet.ts"
import { mysqlReplayArgs } from "../../src/pitr/replay.ts"

const a = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
const b = "6b7f1a2c-0000-4000-8000-000000000001"
const set = (text: string): GtidSet => {
  const parsed = parseGtidSet(text)
  if (parsed === undefined) throw new Error(`not a GTID set: ${text}`)
  return parsed
}

/** A random set over two sources and small transaction numbers (so intervals overlap and touch). */
const RandomSet = Schema.Array(
  Schema.Tuple([
    Schema.Literals([a, b, `${a}:blue`]),
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 30 })),
    Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5 }))
  ])
)
const toSet = (entries: ReadonlyArray<readonly [string, number, number]>): GtidSet =>
  set(entries.map(([source, first, length]) => `${source}:${first}-${first + length}`).join(","))
const members = (s: GtidSet): Set<string> =>
  new Set(
    [...s.entries()].flatMap(([source, intervals]) =>
      intervals.flatMap(([first, last]) => {
        const out: Array<string> = []
        for (let n = first; n <= last; n++) out.push(`${source}#${n}`)
        return out
      })
    )
  )

describe("MySQL GTID sets", () => {
  it("canonical form: merged, sorted, lowercase, whitespace dropped; the tagged form of 8.4", () => {
    assert.strictEqual(formatGtidSet(set(`${b}:3-4, ${a.toUpperCase()}:7:1-5:6\n`)), `${a}:1-7,${b}:3-4`)
    assert.strictEqual(formatGtidSet(set(`${a}:1-3:blue:1-2:5`)), `${a}:1-3,${a}:blue:1-2:5`)
    assert.strictEqual(formatGtidSet(set("")), "")
    for (const bad of [`${a}`, `${a}:0`, `${a}:5-3`, "not-a-uuid:1", `${a}:Bad-Tag!:1`, `${a}:blue`]) {
      assert.isUndefined(parseGtidSet(bad), bad)
    }
  })

  it.effect.prop(
    "parse(format(s)) = s; union and difference agree with sets of transactions",
    { x: RandomSet, y: RandomSet },
    ({ x, y }) =>
      Effect.sync(() => {
        const s = toSet(x)
        const t = toSet(y)
        assert.strictEqual(formatGtidSet(set(formatGtidSet(s))), formatGtidSet(s))
        const u = union(s, t)
        assert.deepStrictEqual(members(u), new Set([...members(s), ...members(t)]))
        const d = subtract(s, t)
        assert.deepStrictEqual(members(d), new Set([...members(s)].filter((m) => !members(t).has(m))))
        assert.isTrue(includesSet(u, s) && includesSet(u, t))
        assert.isTrue(includesSet(union(d, t), s))
        assert.strictEqual(
          includesSet(s, t),
          [...members(t)].every((m) => members(s).has(m))
        )
      })
  )

  it("mysqlbinlog replays exactly the target's transactions the backup lacks, or stops at a UTC time", () => {
    const backup = set(`${a}:1-10`)
    assert.deepStrictEqual(
      mysqlReplayArgs({ backup, target: { _tag: "Gtid", set: set(`${a}:1-14`) }, files: ["/s/binlog.000003"] }),
      ["--no-defaults", `--exclude-gtids=${a}:1-10`, `--include-gtids=${a}:1-14`, "/s/binlog.000003"]
    )
    assert.deepStrictEqual(
      mysqlReplayArgs({ backup: new Map(), target: { _tag: "Time", time: "2026-12-01T22:02:42.5+02:00" }, files: [] }),
      ["--no-defaults", "--stop-datetime=2026-12-01 20:02:42"]
    )
  })
})
