/**
 * Label selectors (equality- and set-based) and field selectors, parsed with the API server's grammar and
 * errors: a malformed selector or an unsupported field is a 400 `BadRequest`.
 *
 * @since 0.1.0
 */
import { badRequest } from "./ApiStatus.ts"
import { fieldValue } from "./resources.ts"
import type { StoredObject } from "./StoredObject.ts"

/** One requirement of a label selector. */
export type LabelRequirement =
  | { readonly op: "=" | "!="; readonly key: string; readonly value: string }
  | { readonly op: "in" | "notin"; readonly key: string; readonly values: ReadonlyArray<string> }
  | { readonly op: "exists" | "!"; readonly key: string }

/** A parsed selector: every requirement must hold. */
export type LabelSelector = ReadonlyArray<LabelRequirement>

const keyPattern =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const valuePattern = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/

/** Splits on commas that are not inside a `(...)` value set. */
const splitTopLevel = (text: string): Array<string> => {
  const parts: Array<string> = []
  let depth = 0
  let start = 0
  for (let index = 0; index < text.length; index++) {
    const char = text[index]
    if (char === "(") depth++
    else if (char === ")") depth--
    else if (char === "," && depth === 0) {
      parts.push(text.slice(start, index))
      start = index + 1
    }
  }
  parts.push(text.slice(start))
  return parts.map((part) => part.trim()).filter((part) => part !== "")
}

const checkKey = (key: string, selector: string): string => {
  if (!keyPattern.test(key) || key.length > 316) {
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${selector}"`)
  }
  return key
}

const checkValue = (value: string, selector: string): string => {
  if (!valuePattern.test(value) || value.length > 63) {
    throw badRequest(`unable to parse requirement: invalid label value: "${value}" in selector "${selector}"`)
  }
  return value
}

/** Parses `app=x,tier!=db,env in (a,b),!legacy,owner`; throws a 400 `ApiStatusError` when malformed. */
export const parseLabelSelector = (selector: string): LabelSelector =>
  splitTopLevel(selector).map((part): LabelRequirement => {
    const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part)
    if (set !== null) {
      const values = (set[3] ?? "").split(",").map((value) => checkValue(value.trim(), selector))
      return { op: set[2] === "in" ? "in" : "notin", key: checkKey(set[1] ?? "", selector), values }
    }
    if (part.startsWith("!")) return { op: "!", key: checkKey(part.slice(1).trim(), selector) }
    const equality = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part)
    if (equality !== null) {
      return {
        op: equality[2] === "!=" ? "!=" : "=",
        key: checkKey(equality[1] ?? "", selector),
        value: checkValue((equality[3] ?? "").trim(), selector)
      }
    }
    return { op: "exists", key: checkKey(part, selector) }
  })

/** True when the labels satisfy every requirement (`!=` and `notin` also match when the key is absent). */
export const matchesLabels = (selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean =>
  selector.every((requirement) => {
    const value = labels?.[requirement.key]
    switch (requirement.op) {
      case "=":
        return value === requirement.value
      case "!=":
        return value !== requirement.value
      case "in":
        return value !== undefined && requirement.values.includes(value)
      case "notin":
        return value === undefined || !requirement.values.includes(value)
      case "exists":
        return value !== undefined
      default:
        return value === undefined
    }
  })

/** One requirement of a field selector. */
export interface FieldRequirement {
  readonly field: string
  readonly op: "=" | "!="
  readonly value: string
}

/**
 * Parses `metadata.name=x,status.phase!=Running` and checks every field is one the kind supports
 * (`metadata.name`, `metadata.namespace` and the kind's own list), as the server does.
 */
export const parseFieldSelector = (
  selector: string,
  supported: ReadonlyArray<string>
): ReadonlyArray<FieldRequirement> =>
  selector
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => {
      const match = /^([^=!]+)(==|=|!=)(.*)$/.exec(part)
      if (match === null) throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`)
      const field = (match[1] ?? "").trim()
      if (field !== "metadata.name" && field !== "metadata.namespace" && !supported.includes(field)) {
        throw badRequest(`field label not supported: ${field}`)
      }
      return { field, op: match[2] === "!=" ? "!=" : "=", value: (match[3] ?? "").trim() }
    })

/** True when every field requirement holds for the object. */
export const matchesFields = (selector: ReadonlyArray<FieldRequirement>, object: StoredObject): boolean =>
  selector.every((requirement) => {
    const actual = fieldValue(object, requirement.field)
    return requirement.op === "=" ? actual === requirement.value : actual !== requirement.value
  })
