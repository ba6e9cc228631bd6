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

const record = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
const records = (value: unknown): Array<Record<string, unknown>> => (Array.isArray(value) ? value.map(record) : [])

/** kubectl's Pod columns: READY, STATUS (the printer's reason logic), RESTARTS, AGE, IP and NODE (wide). */
const podColumns: ReadonlyArray<PrinterColumn> = [
  { name: "Ready", type: "string", jsonPath: "" },
  { name: "Status", type: "string", jsonPath: "" },
  { name: "Restarts", type: "string", jsonPath: "" },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  { name: "IP", type: "string", jsonPath: ".status.podIP", priority: 1 },
  { name: "Node", type: "string", jsonPath: ".spec.nodeName", priority: 1 }
]

const terminatedReason = (terminated: Record<string, unknown>): string =>
  typeof terminated.reason === "string" && terminated.reason !== ""
    ? terminated.reason
    : typeof terminated.signal === "number" && terminated.signal !== 0
      ? `Signal:${terminated.signal}`
      : `ExitCode:${String(terminated.exitCode ?? 0)}`

const podCells = (pod: StoredObject): [string, string, string] => {
  const status = record(pod.status)
  const spec = record(pod.spec)
  const containers = records(status.containerStatuses)
  const inits = records(status.initContainerStatuses)
  let reason = typeof status.reason === "string" ? status.reason : typeof status.phase === "string" ? status.phase : ""
  let restarts = 0
  let initializing = false
  const initTotal = records(spec.initContainers).length
  inits.forEach((init, index) => {
    restarts += Number(init.restartCount ?? 0)
    if (initializing) return
    const state = record(init.state)
    const terminated = record(state.terminated)
    const waitingState = record(state.waiting)
    if (state.terminated !== undefined && terminated.exitCode === 0) return
    initializing = true
    if (state.terminated !== undefined) reason = `Init:${terminatedReason(terminated)}`
    else if (
      typeof waitingState.reason === "string" &&
      waitingState.reason !== "" &&
      waitingState.reason !== "PodInitializing"
    )
      reason = `Init:${waitingState.reason}`
    else reason = `Init:${index}/${initTotal}`
  })
  let ready = 0
  let running = false
  if (!initializing) {
    for (const container of [...containers].reverse()) {
      restarts += Number(container.restartCount ?? 0)
      const state = record(container.state)
      const waitingState = record(state.waiting)
      if (typeof waitingState.reason === "string" && waitingState.reason !== "") reason = waitingState.reason
      else if (state.terminated !== undefined) reason = terminatedReason(record(state.terminated))
      else if (state.running !== undefined && container.ready === true) {
        running = true
        ready++
      }
    }
    if (reason === "Completed" && running) reason = "Running"
  } else {
    for (const container of containers) restarts += Number(container.restartCount ?? 0)
  }
  if (pod.metadata.deletionTimestamp !== undefined) reason = "Terminating"
  const total = Math.max(records(spec.containers).length, containers.length)
  return [`${ready}/${total}`, reason, String(restarts)]
}

/** The Table for a list (or one object) of a kind. */
export const tableOf = (type: ServedKind, items: ReadonlyArray<StoredObject>, resourceVersion: string, now: number) => {
  const isPod = !type.custom && type.group === "" && type.plural === "pods"
  const columns = isPod ? podColumns : type.printerColumns.length > 0 ? type.printerColumns : defaultColumns
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
      cells: [
        object.metadata.name ?? "",
        ...(isPod
          ? [...podCells(object), ...columns.slice(3).map((column) => cell(object, column, now))]
          : columns.map((column) => cell(object, column, now)))
      ],
      object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: object.metadata }
    }))
  }
}
