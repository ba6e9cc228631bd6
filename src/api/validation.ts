/**
 * Validation rules that hold both at admission time (as CRD `x-kubernetes-validations` CEL rules, evaluated by
 * the API server) and when our code decodes an object (as a Schema filter). Keeping the CEL text next to the
 * TypeScript predicate is what keeps the two from drifting apart; `test/api/validation.test.ts` checks them
 * against the same cases.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** One CEL rule with its predicate in code. */
export interface CelRule<T> {
  /** The CEL expression, evaluated with `self` bound to the value (and `oldSelf` on updates). */
  readonly rule: string
  /** Shown to the user when the rule fails. */
  readonly message: string
  /** The same rule over the decoded value. `undefined` for transition rules (`oldSelf`) code cannot check. */
  readonly predicate: ((value: T) => boolean) | undefined
}

/** A Schema filter that checks `predicate` in code and exports the rule as `x-kubernetes-validations`. */
export const celRule = <T>(rule: CelRule<T>) =>
  Schema.makeFilter<T>((value) => rule.predicate === undefined || rule.predicate(value) || rule.message, {
    toJsonSchema: () => ({ "x-kubernetes-validations": [{ rule: rule.rule, message: rule.message }] })
  })

/**
 * Marks a list of objects as a map keyed by `key` (`x-kubernetes-list-type: map`), so server-side apply merges
 * entries by key, and rejects duplicate keys in code as the API server does.
 */
export const listMapKeyed = <T extends Record<K, string>, K extends string>(key: K) =>
  Schema.makeFilter<ReadonlyArray<T>>(
    (items) => new Set(items.map((item) => item[key])).size === items.length || `duplicate ${key} in list`,
    { toJsonSchema: () => ({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key] }) }
  )
