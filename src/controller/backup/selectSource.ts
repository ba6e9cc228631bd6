/**
 * Which instance a backup streams from, decided from `Cluster.status` only (DESIGN.md §4: the Cluster reconciler
 * writes a per-instance summary; nothing here talks to an instance).
 *
 * - `primary`: the current primary, when it is ready and has a Pod IP; else `NoHealthyInstance`.
 * - `prefer-standby`: the ready replica with the least replication lag, when that lag is known and at most
 *   `maxLagSeconds`; ties go to the lower instance name, so the choice is deterministic. With no such replica,
 *   the primary as for `primary`.
 *
 * The result says why, for the `Started` Event.
 *
 * @since 0.1.0
 */
import { Result } from "effect"
import type { BackupTarget } from "../../api/backup.ts"
import type { ClusterStatus, InstanceSummary } from "../../api/cluster.ts"
import { NoHealthyInstance } from "../../api/failures.ts"

/** A replica lagging more than this is not a backup source (the backup would be that much behind). */
export const defaultMaxLagSeconds = 60

/** The chosen source and the reason, in words. */
export interface SelectedSource {
  readonly instance: InstanceSummary & { readonly podIP: string }
  readonly why: string
}

const usable = (instance: InstanceSummary): instance is InstanceSummary & { readonly podIP: string } =>
  instance.ready && instance.podIP !== undefined && instance.podIP !== ""

const primaryOf = (status: ClusterStatus): InstanceSummary | undefined => {
  const instances = status.instanceStatuses ?? []
  return status.currentPrimary === undefined
    ? instances.find((instance) => instance.role === "primary")
    : instances.find((instance) => instance.name === status.currentPrimary)
}

/** Selects the source of a backup of `cluster` (see the module comment). */
export const selectSource = (
  cluster: string,
  target: BackupTarget,
  status: ClusterStatus | undefined,
  maxLagSeconds: number = defaultMaxLagSeconds
): Result.Result<SelectedSource, NoHealthyInstance> => {
  const current = status ?? {}
  const primary = primaryOf(current)
  const fail = (detail: string) => Result.fail(new NoHealthyInstance({ cluster, target, detail }))
  const fromPrimary = (because: string) => {
    if (primary === undefined) return fail(`${because}; the cluster reports no primary`)
    if (!usable(primary)) return fail(`${because}; the primary ${primary.name} is not ready`)
    return Result.succeed({ instance: primary, why: `${because}; the primary ${primary.name} is ready` })
  }
  if (target === "primary") return fromPrimary("target is primary")
  const replicas = (current.instanceStatuses ?? []).filter(
    (instance) => instance.name !== primary?.name && instance.role === "replica"
  )
  const candidates = replicas
    .filter(usable)
    .filter((instance) => instance.lagSeconds !== undefined && instance.lagSeconds <= maxLagSeconds)
    .sort((a, b) => (a.lagSeconds ?? 0) - (b.lagSeconds ?? 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const best = candidates[0]
  if (best !== undefined) {
    return Result.succeed({
      instance: best,
      why: `prefer-standby: ready replica with the least lag (${best.lagSeconds ?? 0}s of at most ${maxLagSeconds}s)`
    })
  }
  const because =
    replicas.length === 0
      ? "prefer-standby: the cluster has no replica"
      : `prefer-standby: no ready replica within ${maxLagSeconds}s of lag`
  return fromPrimary(because)
}
