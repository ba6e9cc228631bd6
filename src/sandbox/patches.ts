/**
 * The three patch formats the API server accepts: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
 * an approximation of strategic merge patch for built-in kinds (merge patch, plus merging the lists the
 * operator's built-ins use by their `name` key; `$patch`/`$retainKeys` directives are dropped).
 *
 * @since 0.1.0
 */
import { badRequest, invalid, invalidValue, type Subject } from "./ApiStatus.ts"
import { cloneJson, isRecord, type JsonObject, jsonEqual } from "./StoredObject.ts"

/** RFC 7386: objects merge recursively, `null` deletes, everything else (arrays included) replaces. */
export const mergePatch = (target: unknown, patch: unknown): unknown => {
  if (!isRecord(patch)) return cloneJson(patch)
  const result: JsonObject = isRecord(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key]
    else result[key] = mergePatch(result[key], value)
  }
  return result
}

/** Strategic merge patch, approximated: lists of objects with a `name` merge by name, directives dropped. */
export const strategicMergePatch = (target: unknown, patch: unknown): unknown => {
  if (!isRecord(patch)) {
    if (Array.isArray(patch) && Array.isArray(target) && patch.every((item) => isRecord(item) && "name" in item)) {
      const merged = target.map((item) => cloneJson(item) as unknown)
      for (const item of patch as Array<JsonObject>) {
        const index = merged.findIndex((existing) => isRecord(existing) && existing.name === item.name)
        if (index < 0) merged.push(strategicMergePatch(undefined, item))
        else merged[index] = strategicMergePatch(merged[index], item)
      }
      return merged
    }
    return cloneJson(patch)
  }
  const result: JsonObject = isRecord(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith("$")) continue
    if (value === null) delete result[key]
    else result[key] = strategicMergePatch(result[key], value)
  }
  return result
}

/** One RFC 6902 operation. */
export interface JsonPatchOperation {
  readonly op: "add" | "remove" | "replace" | "move" | "copy" | "test"
  readonly path: string
  readonly from?: string
  readonly value?: unknown
}

const parsePointer = (pointer: string): Array<string> => {
  if (pointer === "") return []
  if (!pointer.startsWith("/"))
    throw badRequest(
      `the server rejected our request due to an error in our request: invalid JSON pointer "${pointer}"`
    )
  return pointer
    .slice(1)
    .split("/")
    .map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"))
}

const operationsOf = (operations: unknown): ReadonlyArray<JsonPatchOperation> => {
  if (!Array.isArray(operations)) {
    throw badRequest("the server rejected our request due to an error in our request: a JSON patch must be an array")
  }
  return operations.map((operation) => {
    const valid =
      isRecord(operation) &&
      typeof operation.path === "string" &&
      ["add", "remove", "replace", "move", "copy", "test"].includes(String(operation.op))
    if (!valid)
      throw badRequest(
        `the server rejected our request due to an error in our request: invalid operation ${JSON.stringify(operation)}`
      )
    return operation as unknown as JsonPatchOperation
  })
}

/**
 * Applies RFC 6902 operations to a copy of `document`. A path that does not exist is a 422 (as
 * `jsonpatch` errors surface from the server); a failed `test` is a 422 `Invalid` too.
 */
export const jsonPatch = (document: unknown, operations: unknown, subject: Subject, name: string): unknown => {
  let root = cloneJson(document)
  const fail = (why: string): never => {
    throw invalid(subject, name, [invalidValue("", null, why)])
  }
  const parentOf = (tokens: Array<string>): { readonly parent: unknown; readonly key: string } => {
    let parent: unknown = root
    for (const token of tokens.slice(0, -1)) {
      if (Array.isArray(parent)) parent = parent[Number(token)]
      else if (isRecord(parent)) parent = parent[token]
      else parent = undefined
      if (parent === undefined) fail(`doc is missing path: "/${tokens.join("/")}": missing value`)
    }
    return { parent, key: tokens[tokens.length - 1] ?? "" }
  }
  const read = (pointer: string): unknown => {
    const tokens = parsePointer(pointer)
    if (tokens.length === 0) return root
    const { parent, key } = parentOf(tokens)
    const value = Array.isArray(parent) ? parent[Number(key)] : isRecord(parent) ? parent[key] : undefined
    if (value === undefined) fail(`doc is missing path: "${pointer}": missing value`)
    return value
  }
  const remove = (pointer: string): unknown => {
    const value = read(pointer)
    const { parent, key } = parentOf(parsePointer(pointer))
    if (Array.isArray(parent)) parent.splice(Number(key), 1)
    else if (isRecord(parent)) delete parent[key]
    return value
  }
  const add = (pointer: string, value: unknown, replace: boolean): void => {
    const tokens = parsePointer(pointer)
    if (tokens.length === 0) {
      root = cloneJson(value)
      return
    }
    const { parent, key } = parentOf(tokens)
    if (Array.isArray(parent)) {
      const index = key === "-" ? parent.length : Number(key)
      if (!Number.isInteger(index) || index < 0 || index > parent.length) fail(`unable to access invalid index: ${key}`)
      if (replace) parent[index] = cloneJson(value)
      else parent.splice(index, 0, cloneJson(value))
    } else if (isRecord(parent)) {
      if (replace && !(key in parent)) fail(`doc is missing key: ${pointer}: missing value`)
      parent[key] = cloneJson(value)
    } else fail(`doc is missing path: "${pointer}": missing value`)
  }
  for (const operation of operationsOf(operations)) {
    switch (operation.op) {
      case "add":
        add(operation.path, operation.value, false)
        break
      case "replace":
        read(operation.path)
        add(operation.path, operation.value, true)
        break
      case "remove":
        remove(operation.path)
        break
      case "move":
        add(operation.path, remove(operation.from ?? ""), false)
        break
      case "copy":
        add(operation.path, read(operation.from ?? ""), false)
        break
      case "test":
        if (!jsonEqual(read(operation.path), operation.value)) {
          fail(`testing value ${operation.path} failed: test failed`)
        }
        break
    }
  }
  return root
}
