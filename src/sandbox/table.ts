/**
 * Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), which `kubectl get` asks
 * for: a `meta.k8s.io/v1 Table` whose columns are `Name` plus the CRD's `additionalPrinterColumns` (or
 * `Name`, `Age` for built-ins). Only simple JSONPaths (`.a.b.c`) are evaluated, which is all our CRDs use.
 *
 * @since 0.1.0
 */

import type { PrinterColumn, ServedKind } from "./resources.ts"
import { type StoredObject, valueAtPath } from "./StoredObject.ts"

const defaultColumns: ReadonlyArray<PrinterColumn> = [
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }
]

/** `duration.HumanDuration` of apimachinery: how the server prints `date` columns ("5s", "3m20s", "2d4h"). */
export const humanDuration = (millis: number): string => {
  const seconds = Math.floor(millis / 1000)
  if (seconds < -1) return "<invalid>"
  if (seconds < 0) return "0s"
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`
  if (minutes < 180) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`
  if (hours < 48) return `${hours}h`
  const days = Math.floor(hours / 24)
  if (days < 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`
  if (days < 365 * 2) return `${days}d`
  const years = Math.floor(days / 365)
  if (years < 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`
  return `${years}y`
}

const cell = (object: StoredObject, column: PrinterColumn, now: number): unknown => {
  const value = valueAtPath(object, column.jsonPath.replace(/^\./, "").split("."))
  if (value === undefined || value === null) return null
  if (column.type === "date" && typeof value === "string") return humanDuration(now - Date.parse(value))
  if (typeof value === "object") return JSON.stringify(value)
  return value
}

/** The Table for a list (or one object) of a kind. */
export const tableOf = (type: ServedKind, items: ReadonlyArray<StoredObject>, resourceVersion: string, now: number) => {
  const columns = type.printerColumns.length > 0 ? type.printerColumns : defaultColumns
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: [
      {
        name: "Name",
        type: "string",
        format: "name",
        description: "Name must be unique within a namespace.",
        priority: 0
      },
      ...columns.map((column) => ({
        name: column.name,
        type: column.type,
        format: column.format ?? "",
        description: column.description ?? "",
        priority: column.priority ?? 0
      }))
    ],
    rows: items.map((object) => ({
      cells: [object.metadata.name ?? "", ...columns.map((column) => cell(object, column, now))],
      object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: object.metadata }
    }))
  }
}
