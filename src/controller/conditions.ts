/**
 * `metav1.Condition` bookkeeping with the API conventions' rules, as a pure function: a condition list holds one
 * entry per type; `lastTransitionTime` moves only when `status` changes (a new reason or message alone is not a
 * transition); `observedGeneration` records the spec generation the condition was computed from.
 *
 * @since 0.1.0
 */
import type { Condition } from "../api/common.ts"

/** What a reconciler says about one condition type; the time and generation are filled in by `setCondition`. */
export interface ConditionUpdate {
  readonly type: string
  readonly status: Condition["status"]
  readonly reason: string
  readonly message: string
}

// the CRD caps a message at 32768 characters; kubectl prints them whole, so keep them readable
const maxMessageLength = 4096

const clip = (message: string): string =>
  message.length > maxMessageLength ? `${message.slice(0, maxMessageLength - 3)}...` : message

/**
 * The list with `update` applied at `now` (RFC 3339). The order of the other conditions is kept; a new type is
 * appended. Returns the same array when nothing would change, so callers can compare by reference.
 */
export const setCondition = (
  conditions: ReadonlyArray<Condition> | undefined,
  update: ConditionUpdate,
  now: string,
  observedGeneration?: number | undefined
): ReadonlyArray<Condition> => {
  const list = conditions ?? []
  const index = list.findIndex((condition) => condition.type === update.type)
  const previous = index < 0 ? undefined : list[index]
  const message = clip(update.message)
  const next: Condition = {
    type: update.type,
    status: update.status,
    reason: update.reason,
    message,
    lastTransitionTime: previous !== undefined && previous.status === update.status ? previous.lastTransitionTime : now,
    ...(observedGeneration === undefined ? {} : { observedGeneration })
  }
  if (
    previous !== undefined &&
    previous.status === next.status &&
    previous.reason === next.reason &&
    previous.message === next.message &&
    previous.observedGeneration === next.observedGeneration
  ) {
    return list
  }
  return index < 0 ? [...list, next] : list.map((condition, i) => (i === index ? next : condition))
}

/** The condition of a type, when present. */
export const findCondition = (conditions: ReadonlyArray<Condition> | undefined, type: string): Condition | undefined =>
  conditions?.find((condition) => condition.type === type)

/** Whether the condition of a type is `True`. */
export const isConditionTrue = (conditions: ReadonlyArray<Condition> | undefined, type: string): boolean =>
  findCondition(conditions, type)?.status === "True"
