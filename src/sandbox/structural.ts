/**
 * A structural-schema engine for custom resources, following the CRD docs: pruning of unknown fields
 * (unless `x-kubernetes-preserve-unknown-fields`), defaulting, and validation of `type`, `required`, `enum`,
 * `pattern`, `minimum`/`maximum`, `minLength`/`maxLength`, `minItems`/`maxItems`, `format: date-time`,
 * `nullable`, `x-kubernetes-int-or-string`, map-list key uniqueness, and the CEL rules of `cel.ts`
 * (transition rules with `oldSelf` only run on updates where the old value exists). `metadata` is the
 * API server's business and is neither pruned nor schema-validated here.
 *
 * @since 0.1.0
 */
import {
  invalidValue,
  jsonTypeOf,
  requiredValue,
  type StatusCause,
  typeInvalid,
  unsupportedValue
} from "./ApiStatus.ts"
import { CelError, evaluate, parseRule, type Rule } from "./cel.ts"
import { cloneJson, isRecord, type JsonObject } from "./StoredObject.ts"

const ROOT_KEEP = new Set(["apiVersion", "kind", "metadata"])

const schemaAt = (schema: JsonObject, key: string): JsonObject | undefined => {
  const value = schema[key]
  return isRecord(value) ? value : undefined
}

const propertiesOf = (schema: JsonObject): JsonObject | undefined => schemaAt(schema, "properties")

const preservesUnknown = (schema: JsonObject): boolean => schema["x-kubernetes-preserve-unknown-fields"] === true

/** Drops fields the schema does not declare, recursively, in place. */
export const prune = (schema: JsonObject, value: unknown, root = true): void => {
  if (Array.isArray(value)) {
    const items = schemaAt(schema, "items")
    if (items !== undefined) for (const item of value) prune(items, item, false)
    return
  }
  if (!isRecord(value)) return
  const properties = propertiesOf(schema)
  const additional = schemaAt(schema, "additionalProperties")
  for (const key of Object.keys(value)) {
    if (root && ROOT_KEEP.has(key)) continue
    const child = properties === undefined ? undefined : schemaAt(properties, key)
    if (child !== undefined) prune(child, value[key], false)
    else if (additional !== undefined) prune(additional, value[key], false)
    else if (!preservesUnknown(schema) && schema.additionalProperties !== true) delete value[key]
  }
}

/** The dotted paths of fields that pruning would drop (for `fieldValidation=Strict`). */
export const unknownFields = (schema: JsonObject, value: unknown, path = "", root = true): Array<string> => {
  if (Array.isArray(value)) {
    const items = schemaAt(schema, "items")
    return items === undefined
      ? []
      : value.flatMap((item, index) => unknownFields(items, item, `${path}[${index}]`, false))
  }
  if (!isRecord(value)) return []
  const properties = propertiesOf(schema)
  const additional = schemaAt(schema, "additionalProperties")
  return Object.keys(value).flatMap((key) => {
    if (root && ROOT_KEEP.has(key)) return []
    const child = properties === undefined ? undefined : schemaAt(properties, key)
    const field = path === "" ? key : `${path}.${key}`
    if (child !== undefined) return unknownFields(child, value[key], field, false)
    if (additional !== undefined) return unknownFields(additional, value[key], field, false)
    return preservesUnknown(schema) || schema.additionalProperties === true ? [] : [field]
  })
}

/** Applies `default`s of absent (or non-nullable null) properties, recursively, in place. */
export const applyDefaults = (schema: JsonObject, value: unknown): void => {
  if (Array.isArray(value)) {
    const items = schemaAt(schema, "items")
    if (items !== undefined) for (const item of value) applyDefaults(items, item)
    return
  }
  if (!isRecord(value)) return
  const properties = propertiesOf(schema)
  if (properties !== undefined) {
    for (const [key, child] of Object.entries(properties)) {
      if (!isRecord(child) || key === "metadata") continue
      const missing = value[key] === undefined || (value[key] === null && child.nullable !== true)
      if (missing && child.default !== undefined) value[key] = cloneJson(child.default)
      if (value[key] !== undefined) applyDefaults(child, value[key])
    }
  }
  const additional = schemaAt(schema, "additionalProperties")
  if (additional !== undefined) for (const child of Object.values(value)) applyDefaults(additional, child)
}

const regexCache = new Map<string, RegExp>()
const regexFor = (pattern: string): RegExp => {
  let regex = regexCache.get(pattern)
  if (regex === undefined) {
    try {
      regex = new RegExp(pattern, "u")
    } catch {
      regex = new RegExp(pattern)
    }
    regexCache.set(pattern, regex)
  }
  return regex
}

const ruleCache = new Map<string, Rule | undefined>()
const ruleFor = (source: string): Rule | undefined => {
  if (!ruleCache.has(source)) ruleCache.set(source, parseRule(source))
  return ruleCache.get(source)
}

const dateTime = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

const typeMatches = (schema: JsonObject, value: unknown): boolean => {
  if (schema["x-kubernetes-int-or-string"] === true) {
    return typeof value === "string" || (typeof value === "number" && Number.isInteger(value))
  }
  switch (schema.type) {
    case "object":
      return isRecord(value)
    case "array":
      return Array.isArray(value)
    case "string":
      return typeof value === "string"
    case "integer":
      return typeof value === "number" && Number.isInteger(value)
    case "number":
      return typeof value === "number"
    case "boolean":
      return typeof value === "boolean"
    default:
      return true
  }
}

const join = (path: string, key: string): string => (path === "" ? key : `${path}.${key}`)

/** Validates an object against the version's `openAPIV3Schema`; returns the causes (empty when valid). */
export const validateSchema = (schema: JsonObject, object: JsonObject, old: unknown): Array<StatusCause> => {
  const causes: Array<StatusCause> = []
  const visit = (node: JsonObject, value: unknown, oldValue: unknown, path: string, root: boolean): void => {
    if (value === null && node.nullable === true) return
    if (!typeMatches(node, value)) {
      causes.push(typeInvalid(path, value, String(node.type)))
      return
    }
    const enumValues = node.enum
    if (Array.isArray(enumValues) && !enumValues.some((allowed) => allowed === value)) {
      causes.push(unsupportedValue(path, value, enumValues))
    }
    if (typeof value === "string") {
      if (typeof node.pattern === "string" && !regexFor(node.pattern).test(value)) {
        causes.push(invalidValue(path, value, `${path} in body should match '${node.pattern}'`))
      }
      if (typeof node.maxLength === "number" && [...value].length > node.maxLength) {
        causes.push({
          reason: "FieldValueTooLong",
          message: `Too long: may not be more than ${node.maxLength} bytes`,
          field: path
        })
      }
      if (typeof node.minLength === "number" && [...value].length < node.minLength) {
        causes.push(invalidValue(path, value, `${path} in body should be at least ${node.minLength} chars long`))
      }
      if (node.format === "date-time" && !dateTime.test(value)) {
        causes.push(invalidValue(path, value, `${path} in body must be of type date-time: ${JSON.stringify(value)}`))
      }
    }
    if (typeof value === "number") {
      if (
        typeof node.minimum === "number" &&
        (node.exclusiveMinimum === true ? value <= node.minimum : value < node.minimum)
      ) {
        causes.push(invalidValue(path, value, `${path} in body should be greater than or equal to ${node.minimum}`))
      }
      if (
        typeof node.maximum === "number" &&
        (node.exclusiveMaximum === true ? value >= node.maximum : value > node.maximum)
      ) {
        causes.push(invalidValue(path, value, `${path} in body should be less than or equal to ${node.maximum}`))
      }
    }
    if (Array.isArray(value)) {
      if (typeof node.maxItems === "number" && value.length > node.maxItems) {
        causes.push({
          reason: "FieldValueTooMany",
          message: `Too many: ${value.length}: must have at most ${node.maxItems} items`,
          field: path
        })
      }
      if (typeof node.minItems === "number" && value.length < node.minItems) {
        causes.push(invalidValue(path, value.length, `${path} in body should have at least ${node.minItems} items`))
      }
      const keys = node["x-kubernetes-list-map-keys"]
      if (node["x-kubernetes-list-type"] === "map" && Array.isArray(keys)) {
        const seen = new Set<string>()
        value.forEach((item, index) => {
          const identity = JSON.stringify(keys.map((key) => (isRecord(item) ? item[String(key)] : undefined)))
          if (seen.has(identity))
            causes.push({
              reason: "FieldValueDuplicate",
              message: `Duplicate value: ${identity}`,
              field: `${path}[${index}]`
            })
          seen.add(identity)
        })
      }
      const items = schemaAt(node, "items")
      if (items !== undefined) {
        value.forEach((item, index) => {
          visit(items, item, undefined, `${path}[${index}]`, false)
        })
      }
    }
    if (isRecord(value)) {
      const required = Array.isArray(node.required) ? node.required : []
      for (const key of required) {
        if (root && key === "metadata") continue
        if (value[String(key)] === undefined) causes.push(requiredValue(join(path, String(key))))
      }
      const properties = propertiesOf(node)
      for (const [key, child] of Object.entries(value)) {
        if (root && ROOT_KEEP.has(key)) continue
        const childSchema =
          (properties === undefined ? undefined : schemaAt(properties, key)) ?? schemaAt(node, "additionalProperties")
        if (childSchema !== undefined)
          visit(childSchema, child, isRecord(oldValue) ? oldValue[key] : undefined, join(path, key), false)
      }
    }
    const rules = node["x-kubernetes-validations"]
    if (Array.isArray(rules) && causes.length === 0) {
      for (const entry of rules) {
        if (!isRecord(entry) || typeof entry.rule !== "string") continue
        const rule = ruleFor(entry.rule)
        if (rule === undefined || (rule.usesOldSelf && oldValue === undefined)) continue
        const message = typeof entry.message === "string" ? entry.message : `failed rule: ${entry.rule}`
        try {
          if (evaluate(rule, value, oldValue) !== true) {
            causes.push(invalidValue(path === "" ? "<nil>" : path, jsonTypeOf(value), message))
          }
        } catch (error) {
          if (!(error instanceof CelError)) throw error
          causes.push(invalidValue(path, jsonTypeOf(value), `${error.message} evaluating rule: ${entry.rule}`))
        }
      }
    }
  }
  visit(schema, object, old, "", true)
  return causes
}
