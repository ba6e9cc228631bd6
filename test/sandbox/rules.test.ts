/**
 * The pure pieces of the fake: the CEL subset against every rule our CRDs declare, selector parsing,
 * and the server's age formatting.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { evaluate, parseRule } from "../../src/sandbox/cel.ts"
import { defaultCrdFiles, loadCrdFiles } from "../../src/sandbox/crdFiles.ts"
import { matchesLabels, parseLabelSelector } from "../../src/sandbox/selectors.ts"
import { humanDuration } from "../../src/sandbox/table.ts"

/** Every `x-kubernetes-validations[].rule` string in a CRD document. */
const rulesIn = (value: unknown): Array<string> => {
  if (Array.isArray(value)) return value.flatMap(rulesIn)
  if (typeof value !== "object" || value === null) return []
  const record = value as Record<string, unknown>
  const own = Array.isArray(record["x-kubernetes-validations"])
    ? (record["x-kubernetes-validations"] as Array<{ rule?: unknown }>).flatMap((entry) =>
        typeof entry.rule === "string" ? [entry.rule] : []
      )
    : []
  return [
    ...own,
    ...Object.entries(record).flatMap(([key, child]) => (key === "x-kubernetes-validations" ? [] : rulesIn(child)))
  ]
}

describe("CEL subset", () => {
  it.effect("every x-kubernetes-validations rule in deploy/crds parses (none is silently skipped)", () =>
    Effect.gen(function* () {
      const crds = yield* loadCrdFiles(yield* defaultCrdFiles)
      const rules = crds.flatMap(rulesIn)
      assert.isAbove(rules.length, 5)
      assert.deepStrictEqual(
        rules.filter((rule) => parseRule(rule) === undefined),
        []
      )
    })
  )

  it("evaluates has(), ternaries, equality, macros and transition rules with a real CEL implementation", () => {
    const rule = (source: string) => {
      const parsed = parseRule(source)
      assert.isDefined(parsed)
      return parsed
    }
    const sse = rule(
      "self.algorithm == 'customer' ? has(self.customerKey) && !has(self.kmsKeyId) : !has(self.customerKey)"
    )
    assert.isTrue(evaluate(sse, { algorithm: "customer", customerKey: {} }, undefined))
    assert.isFalse(evaluate(sse, { algorithm: "customer", kmsKeyId: "k", customerKey: {} }, undefined))
    assert.isFalse(evaluate(sse, { algorithm: "AES256", customerKey: {} }, undefined))
    const xor = rule("has(self.backup) != has(self.source)")
    assert.isTrue(evaluate(xor, { backup: {} }, undefined))
    assert.isFalse(evaluate(xor, {}, undefined))
    const immutable = rule("self == oldSelf")
    assert.isTrue(evaluate(immutable, { a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }))
    assert.isFalse(evaluate(immutable, { a: 1 }, { a: 2 }))
    const macros = rule("self.items.all(i, i.size() > 0) && self.count > 2")
    assert.isTrue(evaluate(macros, { items: ["a", "bc"], count: 3 }, undefined))
    assert.isFalse(evaluate(macros, { items: ["a", ""], count: 3 }, undefined))
    assert.isUndefined(parseRule("self.items.all(i, "), "not CEL: the API server would reject the CRD")
  })
})

describe("label selectors", () => {
  it("parse set-based requirements with spaces and reject malformed ones", () => {
    const selector = parseLabelSelector("app = db, env in (prod, staging),!legacy")
    assert.isTrue(matchesLabels(selector, { app: "db", env: "staging" }))
    assert.isFalse(matchesLabels(selector, { app: "db", env: "staging", legacy: "" }))
    assert.throws(() => parseLabelSelector("app=in valid"))
    assert.throws(() => parseLabelSelector("-bad=x"))
  })
})

describe("server-side printing", () => {
  it("formats ages like apimachinery's HumanDuration", () => {
    const second = 1000
    assert.deepStrictEqual(
      [
        5 * second,
        150 * second,
        600 * second,
        3 * 3600 * second + 120 * second,
        30 * 3600 * second,
        3 * 86400 * second + 3600 * second,
        400 * 86400 * second
      ].map(humanDuration),
      ["5s", "2m30s", "10m", "3h2m", "30h", "3d1h", "400d"]
    )
  })
})
