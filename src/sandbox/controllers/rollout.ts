/**
 * The Deployment controller's arithmetic, pure: the `pod-template-hash`, `maxSurge`/`maxUnavailable`
 * resolution, how far a rolling update may scale the new ReplicaSet up and the old ones down, and the
 * Deployment's status and conditions (what `kubectl rollout status` reads).
 *
 * Rolling update follows the controller's two steps per sync: the new ReplicaSet grows while the total stays
 * within `replicas + maxSurge`; old ReplicaSets shrink — first by their unavailable Pods, then by as many
 * available ones as keep `replicas − maxUnavailable` available. Recreate scales every old ReplicaSet to zero
 * and starts the new one only once their Pods are gone.
 *
 * @since 0.1.0
 */
import type { Condition, Deployment, PodTemplate, ReplicaSet } from "./kinds.ts"

const HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

/** The label that ties a ReplicaSet and its Pods to one template of a Deployment. */
export const templateHashLabel = "pod-template-hash"

const canonical = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(",")}}`
  }
  return JSON.stringify(value)
}

/** A template without the hash label: what "the same template" compares. */
const withoutHash = (template: PodTemplate | undefined): unknown => {
  const labels = { ...template?.metadata?.labels }
  delete labels[templateHashLabel]
  return { ...template, metadata: { ...template?.metadata, labels } }
}

/** True when a ReplicaSet runs the Deployment's current template. */
export const sameTemplate = (a: PodTemplate | undefined, b: PodTemplate | undefined): boolean =>
  canonical(withoutHash(a)) === canonical(withoutHash(b))

/** FNV-1a (32 bit) of the canonical template, spelled in the API server's safe alphabet like `ComputeHash`. */
export const templateHash = (template: PodTemplate | undefined): string => {
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(canonical(withoutHash(template)), "utf8")) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return [...String(hash)].map((digit) => HASH_ALPHABET[digit.charCodeAt(0) % HASH_ALPHABET.length]).join("")
}

/** An int-or-percent of `replicas` (`"25%"`), rounded up or down as the field asks. */
export const resolveIntOrPercent = (value: number | string | undefined, replicas: number, roundUp: boolean): number => {
  if (typeof value === "number") return value
  const match = /^(\d+)%$/.exec(value ?? "")
  if (match === null) return Number(value ?? 0) || 0
  const exact = (Number(match[1]) * replicas) / 100
  return roundUp ? Math.ceil(exact) : Math.floor(exact)
}

/** The rolling-update bounds of a Deployment; Recreate is "none unavailable, no surge". */
export const bounds = (deployment: Deployment): { readonly maxSurge: number; readonly maxUnavailable: number } => {
  const replicas = deployment.spec?.replicas ?? 1
  const strategy = deployment.spec?.strategy
  if (strategy?.type === "Recreate") return { maxSurge: 0, maxUnavailable: 0 }
  const maxSurge = resolveIntOrPercent(strategy?.rollingUpdate?.maxSurge ?? "25%", replicas, true)
  const maxUnavailable = resolveIntOrPercent(strategy?.rollingUpdate?.maxUnavailable ?? "25%", replicas, false)
  return maxSurge === 0 && maxUnavailable === 0 ? { maxSurge, maxUnavailable: 1 } : { maxSurge, maxUnavailable }
}

const specReplicas = (replicaSet: ReplicaSet) => replicaSet.spec?.replicas ?? 0
const available = (replicaSet: ReplicaSet) => replicaSet.status?.availableReplicas ?? 0

/** The new ReplicaSet's next size in a rolling update. */
export const rollingNewSize = (deployment: Deployment, next: ReplicaSet, all: ReadonlyArray<ReplicaSet>): number => {
  const replicas = deployment.spec?.replicas ?? 1
  const current = specReplicas(next)
  if (current >= replicas) return replicas
  const total = all.reduce((sum, replicaSet) => sum + specReplicas(replicaSet), 0)
  const room = replicas + bounds(deployment).maxSurge - total
  return room <= 0 ? current : current + Math.min(room, replicas - current)
}

/** The old ReplicaSets' next sizes in a rolling update (by name), oldest shrinking first. */
export const rollingOldSizes = (
  deployment: Deployment,
  next: ReplicaSet,
  old: ReadonlyArray<ReplicaSet>
): ReadonlyMap<string, number> => {
  const sizes = new Map(old.map((replicaSet) => [replicaSet.metadata.name ?? "", specReplicas(replicaSet)]))
  const oldTotal = old.reduce((sum, replicaSet) => sum + specReplicas(replicaSet), 0)
  if (oldTotal === 0) return sizes
  const replicas = deployment.spec?.replicas ?? 1
  const minAvailable = replicas - bounds(deployment).maxUnavailable
  const allTotal = oldTotal + specReplicas(next)
  const newUnavailable = specReplicas(next) - available(next)
  let budget = allTotal - minAvailable - newUnavailable
  if (budget <= 0) return sizes
  const oldest = [...old].sort((a, b) =>
    (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "")
  )
  // unavailable Pods of old ReplicaSets go first: removing them costs no availability
  for (const replicaSet of oldest) {
    if (budget <= 0) break
    const name = replicaSet.metadata.name ?? ""
    const size = sizes.get(name) ?? 0
    const cut = Math.min(budget, size - available(replicaSet))
    if (cut > 0) {
      sizes.set(name, size - cut)
      budget -= cut
    }
  }
  const availableNow = [...old, next].reduce((sum, replicaSet) => sum + available(replicaSet), 0)
  let removable = Math.min(budget, availableNow - minAvailable)
  for (const replicaSet of oldest) {
    if (removable <= 0) break
    const name = replicaSet.metadata.name ?? ""
    const size = sizes.get(name) ?? 0
    const cut = Math.min(removable, size)
    sizes.set(name, size - cut)
    removable -= cut
  }
  return sizes
}

/** The Deployment's status from its ReplicaSets, with `Available` and `Progressing` as the controller writes them. */
export const deploymentStatus = (
  deployment: Deployment,
  next: ReplicaSet | undefined,
  all: ReadonlyArray<ReplicaSet>,
  created: boolean,
  now: string,
  nowMillis: number
) => {
  const replicas = deployment.spec?.replicas ?? 1
  const sum = (read: (replicaSet: ReplicaSet) => number | undefined) =>
    all.reduce((total, replicaSet) => total + (read(replicaSet) ?? 0), 0)
  const status = {
    observedGeneration: deployment.metadata.generation ?? 0,
    replicas: sum((replicaSet) => replicaSet.status?.replicas),
    updatedReplicas: next?.status?.replicas ?? 0,
    readyReplicas: sum((replicaSet) => replicaSet.status?.readyReplicas),
    availableReplicas: sum((replicaSet) => replicaSet.status?.availableReplicas)
  }
  const unavailableReplicas = Math.max(0, sum((replicaSet) => replicaSet.spec?.replicas) - status.availableReplicas)
  const previous = deployment.status?.conditions ?? []
  const condition = (type: string, value: string, reason: string, message: string, progressed: boolean): Condition => {
    const before = previous.find((item) => item.type === type)
    const transitioned = before === undefined || before.status !== value
    return {
      type,
      status: value,
      lastUpdateTime: transitioned || progressed || before?.reason !== reason ? now : (before.lastUpdateTime ?? now),
      lastTransitionTime: transitioned ? now : (before.lastTransitionTime ?? now),
      reason,
      message
    }
  }
  const minAvailable = replicas - bounds(deployment).maxUnavailable
  const availableCondition =
    status.availableReplicas >= minAvailable
      ? condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", false)
      : condition(
          "Available",
          "False",
          "MinimumReplicasUnavailable",
          "Deployment does not have minimum availability.",
          false
        )
  const name = next?.metadata.name ?? ""
  const complete =
    next !== undefined &&
    status.updatedReplicas === replicas &&
    status.replicas === replicas &&
    status.availableReplicas === replicas
  const before = deployment.status
  const progressed =
    before === undefined ||
    before.updatedReplicas !== status.updatedReplicas ||
    before.availableReplicas !== status.availableReplicas ||
    before.readyReplicas !== status.readyReplicas ||
    before.replicas !== status.replicas
  const lastProgress = previous.find((item) => item.type === "Progressing")
  const deadline = (deployment.spec?.progressDeadlineSeconds ?? 600) * 1000
  const lastUpdate = Date.parse(lastProgress?.lastUpdateTime ?? "") || nowMillis
  let progressing: Condition
  if (complete) {
    progressing = condition(
      "Progressing",
      "True",
      "NewReplicaSetAvailable",
      `ReplicaSet "${name}" has successfully progressed.`,
      false
    )
  } else if (created) {
    progressing = condition("Progressing", "True", "NewReplicaSetCreated", `Created new replica set "${name}"`, true)
  } else if (progressed) {
    progressing = condition("Progressing", "True", "ReplicaSetUpdated", `ReplicaSet "${name}" is progressing.`, true)
  } else if (nowMillis - lastUpdate > deadline) {
    progressing = condition(
      "Progressing",
      "False",
      "ProgressDeadlineExceeded",
      `ReplicaSet "${name}" has timed out progressing.`,
      false
    )
  } else
    progressing =
      lastProgress ??
      condition("Progressing", "True", "ReplicaSetUpdated", `ReplicaSet "${name}" is progressing.`, true)
  const waitMillis =
    complete || progressing.status === "False" ? undefined : Math.max(1, lastUpdate + deadline - nowMillis + 1000)
  return {
    status: { ...status, unavailableReplicas, conditions: [availableCondition, progressing] },
    waitMillis
  }
}
