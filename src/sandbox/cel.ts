/**
 * CEL for the CRDs' `x-kubernetes-validations` rules, evaluated with `@bufbuild/cel` (a conformant CEL
 * implementation) so the fake API server enforces the same rules as the real one: `self` is the value at the
 * rule's node and `oldSelf` its previous value on updates (transition rules are skipped on create, as the API
 * server does).
 *
 * @since 0.1.0
 */
import { type CelInput, celEnv, isCelError, parse, plan } from "@bufbuild/cel"
import { Data } from "effect"
import { isRecord } from "./StoredObject.ts"

/** A compiled rule and whether it is a transition rule (mentions `oldSelf`). */
export interface Rule {
  readonly program: (bindings: { readonly self: CelInput; readonly oldSelf?: CelInput }) => unknown
  readonly usesOldSelf: boolean
}

/** A CEL runtime error, e.g. selecting a field that is not set (`no such key`). */
/** A CEL rule failed at runtime (thrown inside the store's synchronous validation, caught by `structural.ts`). */
export class CelError extends Data.TaggedError("CelError")<{ readonly message: string }> {}

const env = celEnv()

/** Compiles a rule; `undefined` when it is not valid CEL (the API server rejects such a CRD). */
export const parseRule = (source: string): Rule | undefined => {
  try {
    const program = plan(env, parse(source))
    return { program: (bindings) => program(bindings as never), usesOldSelf: /\boldSelf\b/u.test(source) }
  } catch {
    return undefined
  }
}

// JSON as CEL sees it: objects are maps, whole numbers are ints (the API server decodes integer fields as int64)
const toCel = (value: unknown): CelInput => {
  if (Array.isArray(value)) return value.map(toCel)
  if (isRecord(value)) return new Map(Object.entries(value).map(([k, v]) => [k, toCel(v)]))
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value)
  return value as CelInput
}

/** Evaluates a compiled rule; throws `CelError` on a runtime error. */
export const evaluate = (rule: Rule, self: unknown, oldSelf: unknown): unknown => {
  const result = rule.program(
    oldSelf === undefined ? { self: toCel(self) } : { self: toCel(self), oldSelf: toCel(oldSelf) }
  )
  if (isCelError(result)) throw new CelError({ message: result.message })
  return result
}
