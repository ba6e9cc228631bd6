/**
 * The Cluster reconciler's decisions, as pure functions of what it observed: what to create or delete, and the
 * status to write. `reconcile.ts` observes and acts; everything that could be wrong about a Cluster's lifecycle
 * is decided here and tested without an API server.
 *
 * The lifecycle (docs/cluster.md):
 * 1. With `bootstrap.recovery`: resolve it (a failure becomes phase + `Recovered` condition + Warning Event);
 *    with a `recoveryTarget`, run the recovery plan Job first and copy its plan to `status.recovery.plan` (an
 *    unreachable target fails the Cluster here, before anything touches a volume); then run the recovery Job
 *    on instance 1's PVC, and wait for its termination message (`recovering`).
 * 2. Instance 1 starts as the primary (on the restored volume, or initialising an empty one).
 * 3. Once the primary is ready, replicas are added one at a time; each clones the primary.
 * 4. Scaling down removes the highest-numbered replica and its PVC; a deleted Pod is recreated on its PVC.
 *
 * Phases: `pending` (resolving, or starting for the first time), `recovering`, `healthy` (every wanted instance
 * ready), `degraded` (was serving, now fewer ready), `failed` (a recovery failure that needs a human).
 *
 * @since 0.1.0
 */
import type {
  ClusterPhase,
  ClusterStatus,
  InstanceSummary,
  RecoveryPlanStatus,
  RecoveryStatus
} from "../../api/cluster.ts"
import { type Failure, failurePolicies, failureStatus } from "../../api/failures.ts"
import type { FailureMessage } from "../../api/jobs.ts"
import { type InstanceRole, instanceName, labels, recoveryJobName, recoveryPlanJobName } from "../../api/names.ts"
import type { InstanceStatus } from "../../instance/protocol.ts"
import type { Pod } from "../../kube/resources.ts"
import { findCondition, isConditionTrue, setCondition } from "../conditions.ts"
import { event, failureEvent, type PendingEvent } from "../Events.ts"
import { clusterEvents } from "./events.ts"
import { type PlanOutcome, type RecoveryOutcome, resolvedRecoveryStatus, restoredRecoveryStatus } from "./recovery.ts"
import {
  type ClusterRef,
  type DataDirBootstrap,
  describeRecoveryTarget,
  type InstancePlan,
  type RecoveryPlan
} from "./render.ts"

/** Condition types of a Cluster. */
export const conditionTypes = { ready: "Ready", recovered: "Recovered" } as const

/** One instance as observed: its PVC and Pod, and what its instance manager said. */
export interface ObservedInstance {
  readonly serial: number
  readonly name: string
  readonly hasPvc: boolean
  readonly pod?: Pod
  readonly status?: InstanceStatus
}

/** Where recovery stands. */
export type RecoveryObservation =
  | { readonly _tag: "NotRequested" }
  | { readonly _tag: "Recovered" }
  | { readonly _tag: "Unresolved"; readonly failure: Failure }
  | {
      readonly _tag: "Resolved"
      readonly plan: RecoveryPlan
      readonly job: "absent" | "running" | { readonly outcome: RecoveryOutcome }
      /**
       * With a `recoveryTarget`: the recovery plan Job (absent without a target); `stale` when it planned another
       * target than the spec's now.
       */
      readonly planJob?: "absent" | "stale" | "running" | { readonly outcome: PlanOutcome }
    }

/** Everything `decide` looks at. */
export interface Observation {
  readonly cluster: ClusterRef
  readonly generation: number | undefined
  readonly status: ClusterStatus
  readonly recovery: RecoveryObservation
  readonly instances: ReadonlyArray<ObservedInstance>
}

/** A change to make. */
export type Action =
  | { readonly _tag: "CreateRecoveryPlanJob"; readonly plan: RecoveryPlan }
  | { readonly _tag: "DeleteRecoveryPlanJob"; readonly name: string }
  | { readonly _tag: "CreateRecoveryJob"; readonly plan: RecoveryPlan }
  | { readonly _tag: "CreatePvc"; readonly serial: number }
  | { readonly _tag: "CreatePod"; readonly plan: InstancePlan }
  | { readonly _tag: "DeletePod"; readonly name: string }
  | { readonly _tag: "DeletePvc"; readonly name: string }
  | { readonly _tag: "SetRole"; readonly name: string; readonly role: InstanceRole }

/** What a reconcile does. */
export interface Decision {
  readonly status: ClusterStatus
  readonly actions: ReadonlyArray<Action>
  readonly events: ReadonlyArray<PendingEvent>
  /** Seconds until the next look (status polling); absent when only a change can move things on. */
  readonly requeueAfterSeconds?: number
}

/** Seconds between looks while something is in progress, and while healthy (status polling). */
export const requeue = { busy: 5, healthy: 30, waiting: 30 } as const

/** Whether a Pod counts as ready: the kubelet says Ready and it is not being deleted. */
export const podReady = (pod: Pod | undefined): boolean =>
  pod !== undefined &&
  pod.metadata?.deletionTimestamp === undefined &&
  (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")

/**
 * Ready: the Pod is Ready, the instance manager answered that the server does, and a replica's replication
 * threads run (a replica that stopped replicating serves stale data: no backup source, no clone gate).
 */
export const instanceReady = (instance: ObservedInstance, role: InstanceRole): boolean => {
  const status = instance.status
  if (!podReady(instance.pod) || status?.ready !== true) return false
  return (
    role === "primary" ||
    (status.replication.length > 0 && status.replication.every((c) => c.ioRunning && c.sqlRunning))
  )
}

/** The compact summary the Backup reconciler selects its source from. */
export const summarize = (instance: ObservedInstance, role: InstanceRole): InstanceSummary => {
  const lag = instance.status?.replication[0]?.lagSeconds
  const podIP = instance.pod?.status?.podIP
  return {
    name: instance.name,
    role,
    ready: instanceReady(instance, role),
    ...(instance.status === undefined ? {} : { executedGtid: instance.status.executedGtid }),
    ...(role === "replica" && lag !== undefined && lag !== null ? { lagSeconds: lag } : {}),
    ...(podIP === undefined ? {} : { podIP })
  }
}

/** A condition update that emits its Event only when the condition actually changes. */
const transition = (
  status: ClusterStatus,
  update: { type: string; status: "True" | "False"; reason: string; message: string },
  now: string,
  generation: number | undefined,
  pending: PendingEvent | undefined
): { conditions: ClusterStatus["conditions"]; events: ReadonlyArray<PendingEvent> } => {
  const previous = findCondition(status.conditions, update.type)
  const conditions = setCondition(status.conditions, update, now, generation)
  const changed = previous?.status !== update.status || previous.reason !== update.reason
  return { conditions, events: changed && pending !== undefined ? [pending] : [] }
}

const failureOfMessage = (failure: FailureMessage): { phase: ClusterPhase; event: PendingEvent } => {
  const known = failure.reason in failurePolicies ? failurePolicies[failure.reason as Failure["_tag"]] : undefined
  return {
    phase: known?.phase === "pending" ? "pending" : "failed",
    event:
      known === undefined
        ? event(clusterEvents.recoveryFailed, failure)
        : { type: "Warning", reason: failure.reason, message: failure.message }
  }
}

/** How a plan Job that gave no reachable plan fails the Cluster (an unreachable plan, a failure, no start). */
const planFailure = (
  outcome: PlanOutcome,
  target: string
): { phase: ClusterPhase; event: PendingEvent; message: string; unstartable: boolean } => {
  if (outcome._tag === "Unstartable") {
    const event: PendingEvent = { type: "Warning", reason: outcome.reason, message: outcome.message }
    return { phase: "failed", event, message: outcome.message, unstartable: true }
  }
  const failure: FailureMessage =
    outcome._tag === "Planned"
      ? { reason: "RecoveryTargetUnreachable", message: outcome.plan.message ?? `${target} is unreachable` }
      : outcome.failure
  return { ...failureOfMessage(failure), message: failure.message, unstartable: false }
}

/** The recovery step; `undefined` when it is done (or was never asked for) and the instances may run. */
const decideRecovery = (
  obs: Observation,
  now: string
): {
  decision?: Decision
  recovery?: RecoveryStatus
  conditions: ClusterStatus["conditions"]
  events: ReadonlyArray<PendingEvent>
} => {
  const { cluster, status, generation } = obs
  const r = obs.recovery
  const base = { ...status, observedGeneration: generation ?? status.observedGeneration ?? 0 }
  const stop = (
    phase: ClusterPhase,
    conditions: ClusterStatus["conditions"],
    extra: Partial<ClusterStatus>,
    events: ReadonlyArray<PendingEvent>,
    actions: ReadonlyArray<Action> = [],
    requeueAfterSeconds?: number
  ): { decision: Decision; conditions: ClusterStatus["conditions"]; events: ReadonlyArray<PendingEvent> } => ({
    decision: {
      status: {
        ...base,
        ...extra,
        phase,
        ...(conditions === undefined ? {} : { conditions }),
        instances: 0,
        readyInstances: 0
      },
      actions,
      events,
      ...(requeueAfterSeconds === undefined ? {} : { requeueAfterSeconds })
    },
    conditions,
    events
  })
  switch (r._tag) {
    case "NotRequested":
    case "Recovered":
      return { conditions: status.conditions, events: [] }
    case "Unresolved": {
      const fs = failureStatus(r.failure)
      const t = transition(
        status,
        { type: conditionTypes.recovered, status: "False", reason: fs.reason, message: fs.message },
        now,
        generation,
        failureEvent(fs)
      )
      return stop(
        fs.phase === "pending" ? "pending" : "failed",
        t.conditions,
        {},
        t.events,
        [],
        fs.phase === "pending" ? requeue.waiting : undefined
      )
    }
    case "Resolved": {
      const planJob = r.planJob
      const planned =
        planJob !== undefined && typeof planJob === "object" && planJob.outcome._tag === "Planned"
          ? ({ ...planJob.outcome.plan, jobName: recoveryPlanJobName(cluster.name) } satisfies RecoveryPlanStatus)
          : undefined
      const resolved: RecoveryStatus = {
        ...resolvedRecoveryStatus(cluster, r.plan),
        ...(planned === undefined ? {} : { plan: planned })
      }
      // the recovery Job waits for a reachable plan; once it exists, the plan Job is history
      if (r.job === "absent" && planJob !== undefined && planned?.reachable !== true) {
        const target = describeRecoveryTarget(r.plan)
        // only the plan of the Job observed now: an earlier plan may be of another target
        const { plan: _earlier, ...unplanned } = status.recovery ?? {}
        if (planJob === "absent" || planJob === "stale" || planJob === "running") {
          const t = transition(
            status,
            {
              type: conditionTypes.recovered,
              status: "False",
              reason: "RecoveryPlanning",
              message: `planning the recovery to ${target}`
            },
            now,
            generation,
            undefined
          )
          // an Event of the creation itself: after a stale plan Job the condition is already RecoveryPlanning
          const created =
            planJob === "absent"
              ? [event(clusterEvents.recoveryPlanning, { job: recoveryPlanJobName(cluster.name), target })]
              : []
          return stop(
            "recovering",
            t.conditions,
            { recovery: { ...unplanned, ...resolved } },
            created,
            planJob === "absent"
              ? [{ _tag: "CreateRecoveryPlanJob", plan: r.plan }]
              : planJob === "stale"
                ? [{ _tag: "DeleteRecoveryPlanJob", name: recoveryPlanJobName(cluster.name) }]
                : [],
            requeue.busy
          )
        }
        const failed = planFailure(planJob.outcome, target)
        const t = transition(
          status,
          { type: conditionTypes.recovered, status: "False", reason: failed.event.reason, message: failed.message },
          now,
          generation,
          failed.event
        )
        return stop(
          failed.phase,
          t.conditions,
          { recovery: { ...unplanned, ...resolved } },
          t.events,
          [],
          // the kubelet keeps trying: look again, the Job may still start
          failed.unstartable ? requeue.waiting : undefined
        )
      }
      if (r.job === "absent" || r.job === "running") {
        const what =
          r.plan.target._tag === "Keys"
            ? `Backup ${r.plan.target.backupName}`
            : r.plan.target.backupId === undefined
              ? `the latest backup of ${r.plan.target.source}`
              : `backup ${r.plan.target.backupId} of ${r.plan.target.source}`
        const t = transition(
          status,
          {
            type: conditionTypes.recovered,
            status: "False",
            reason: "RecoveryRunning",
            message: `restoring ${what} into ${instanceName(cluster.name, 1)}`
          },
          now,
          generation,
          r.job === "absent"
            ? event(clusterEvents.recoveryStarted, { job: recoveryJobName(cluster.name), what })
            : undefined
        )
        const actions: ReadonlyArray<Action> =
          r.job === "absent"
            ? [
                ...(obs.instances.some((i) => i.serial === 1 && i.hasPvc)
                  ? []
                  : [{ _tag: "CreatePvc", serial: 1 } as const]),
                { _tag: "CreateRecoveryJob", plan: r.plan }
              ]
            : []
        const plannedEvents =
          r.job === "absent" && planned !== undefined ? [event(clusterEvents.recoveryPlanned, { plan: planned })] : []
        return stop(
          "recovering",
          t.conditions,
          { recovery: { ...status.recovery, ...resolved } },
          [...plannedEvents, ...t.events],
          actions,
          requeue.busy
        )
      }
      const outcome = r.job.outcome
      if (outcome._tag === "Unstartable") {
        const warning: PendingEvent = { type: "Warning", reason: outcome.reason, message: outcome.message }
        const t = transition(
          status,
          { type: conditionTypes.recovered, status: "False", reason: outcome.reason, message: outcome.message },
          now,
          generation,
          warning
        )
        // the kubelet keeps trying: look again, the Job may still start (e.g. an image that appears)
        return stop(
          "failed",
          t.conditions,
          { recovery: { ...status.recovery, ...resolved } },
          t.events,
          [],
          requeue.waiting
        )
      }
      if (outcome._tag === "Failed") {
        const failed = failureOfMessage(outcome.failure)
        const t = transition(
          status,
          {
            type: conditionTypes.recovered,
            status: "False",
            reason: failed.event.reason,
            message: outcome.failure.message
          },
          now,
          generation,
          failed.event
        )
        return stop(failed.phase, t.conditions, { recovery: { ...status.recovery, ...resolved } }, t.events)
      }
      const previousPlan = planned ?? status.recovery?.plan
      const recovery = {
        ...restoredRecoveryStatus(cluster, r.plan, outcome.result),
        ...(previousPlan === undefined ? {} : { plan: previousPlan })
      }
      const t = transition(
        status,
        {
          type: conditionTypes.recovered,
          status: "True",
          reason: "Recovered",
          message: `restored backup ${outcome.result.backupId}${
            outcome.result.pointInTime === undefined
              ? ""
              : ` and replayed ${outcome.result.pointInTime.binlogFiles.length} archived binlog files to ${outcome.result.pointInTime.target} (GTID ${outcome.result.gtid})`
          }`
        },
        now,
        generation,
        event(clusterEvents.recovered, { backupId: outcome.result.backupId, gtid: outcome.result.gtid })
      )
      const skipped = outcome.result.skippedBackups ?? []
      const warnings = skipped.length === 0 ? [] : [event(clusterEvents.backupsSkipped, { skipped })]
      return { recovery, conditions: t.conditions, events: [...t.events, ...warnings] }
    }
  }
}

/** Which instance is the primary: the recorded one while it exists, else the lowest serial. */
export const choosePrimary = (
  status: ClusterStatus,
  instances: ReadonlyArray<ObservedInstance>
): string | undefined => {
  const recorded = status.currentPrimary
  if (recorded !== undefined && instances.some((i) => i.name === recorded)) return recorded
  return [...instances].sort((a, b) => a.serial - b.serial)[0]?.name
}

/** Decides one reconcile (see the module comment). */
export const decide = (obs: Observation, now: string): Decision => {
  const recovery = decideRecovery(obs, now)
  if (recovery.decision !== undefined) return recovery.decision
  const { cluster, status, generation } = obs
  const recoveryRequested = cluster.spec.bootstrap?.recovery !== undefined
  const wanted = cluster.spec.instances
  const instances = [...obs.instances].sort((a, b) => a.serial - b.serial)
  const primary = choosePrimary(status, instances) ?? instanceName(cluster.name, 1)
  const roleOf = (name: string): InstanceRole => (name === primary ? "primary" : "replica")
  const bootstrapOf = (name: string): DataDirBootstrap =>
    name !== primary ? "clone" : recoveryRequested ? "restored" : "initialise"
  const actions: Array<Action> = []
  const events: Array<PendingEvent> = [...recovery.events]
  let latest = Math.max(status.latestInstance ?? 0, ...instances.map((i) => i.serial))

  const create = (serial: number, hasPvc: boolean, how: string) => {
    const name = instanceName(cluster.name, serial)
    if (!hasPvc) actions.push({ _tag: "CreatePvc", serial })
    actions.push({ _tag: "CreatePod", plan: { serial, role: roleOf(name), bootstrap: bootstrapOf(name) } })
    events.push(event(clusterEvents.instanceCreated, { instance: name, role: roleOf(name), how }))
  }

  // existing instances: recreate a missing Pod on its PVC, replace a terminated one, keep role labels true
  for (const instance of instances) {
    const pod = instance.pod
    if (pod === undefined) {
      if (instance.hasPvc) create(instance.serial, true, "on its existing volume")
      continue
    }
    if (pod.metadata?.deletionTimestamp !== undefined) continue
    if (pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded") {
      actions.push({ _tag: "DeletePod", name: instance.name })
      continue
    }
    const role = roleOf(instance.name)
    if (pod.metadata?.labels?.[labels.role] !== role) actions.push({ _tag: "SetRole", name: instance.name, role })
  }

  const primaryInstance = instances.find((i) => i.name === primary)
  const primaryReady = primaryInstance !== undefined && instanceReady(primaryInstance, "primary")
  if (instances.length === 0 && wanted > 0) {
    // the first instance is always serial 1: the recovery Job restored into its PVC
    create(1, false, recoveryRequested ? "on the restored volume" : "initialising an empty data directory")
    latest = Math.max(latest, 1)
  } else if (instances.length > wanted) {
    const victim = [...instances].reverse().find((i) => i.name !== primary)
    if (victim !== undefined) {
      if (victim.pod !== undefined) actions.push({ _tag: "DeletePod", name: victim.name })
      if (victim.hasPvc) actions.push({ _tag: "DeletePvc", name: victim.name })
      events.push(event(clusterEvents.instanceRemoved, { instance: victim.name }))
    }
  } else if (instances.length < wanted && primaryReady && instances.every((i) => instanceReady(i, roleOf(i.name)))) {
    // one replica at a time, and only from a ready primary: each clones it
    latest += 1
    create(latest, false, `cloning ${primary}`)
  }

  const summaries = instances.filter((i) => i.pod !== undefined).map((i) => summarize(i, roleOf(i.name)))
  const ready = summaries.filter((s) => s.ready).length
  const healthy = ready === wanted && primaryReady && instances.length === wanted
  const wasServing = status.phase === "healthy" || status.phase === "degraded"
  const phase: ClusterPhase = healthy ? "healthy" : wasServing ? "degraded" : "pending"
  const readyTransition = transition(
    { ...status, ...(recovery.conditions === undefined ? {} : { conditions: recovery.conditions }) },
    healthy
      ? { type: conditionTypes.ready, status: "True", reason: "ClusterHealthy", message: `${ready} instance(s) ready` }
      : {
          type: conditionTypes.ready,
          status: "False",
          reason: primaryReady ? "InstancesNotReady" : "PrimaryNotReady",
          message: `${ready} of ${wanted} instance(s) ready`
        },
    now,
    generation,
    healthy
      ? event(clusterEvents.healthy, { ready })
      : wasServing
        ? event(clusterEvents.degraded, { ready, wanted })
        : undefined
  )
  events.push(...readyTransition.events)
  const next: ClusterStatus = {
    ...status,
    phase,
    instances: summaries.length,
    readyInstances: ready,
    ...(primaryInstance === undefined && !actions.some((a) => a._tag === "CreatePod")
      ? {}
      : { currentPrimary: primary }),
    instanceStatuses: summaries,
    latestInstance: latest,
    ...(recovery.recovery === undefined ? {} : { recovery: recovery.recovery }),
    ...(readyTransition.conditions === undefined ? {} : { conditions: readyTransition.conditions }),
    observedGeneration: generation ?? status.observedGeneration ?? 0
  }
  return {
    status: next,
    actions,
    events,
    requeueAfterSeconds: healthy && actions.length === 0 ? requeue.healthy : requeue.busy
  }
}

/** Whether a Cluster's recovery already succeeded (then the Job is history). */
export const isRecovered = (status: ClusterStatus | undefined): boolean =>
  isConditionTrue(status?.conditions, conditionTypes.recovered)
