/**
 * The Pod status the kubelet reports, computed from what the node agent knows about each container (Pod
 * lifecycle): `phase` as `getPhase` derives it, the `PodScheduled`, `PodReadyToStartContainers`,
 * `Initialized`, `ContainersReady` and `Ready` conditions with their reasons and messages, and the
 * `containerStatuses`/`initContainerStatuses`. Pure; a condition keeps its `lastTransitionTime` while its
 * status does not change.
 *
 * @since 0.1.0
 */
import type { JsonObject } from "../StoredObject.ts"

export type ContainerRunState =
  | { readonly waiting: { readonly reason: string; readonly message?: string } }
  | { readonly running: { readonly startedAt: string } }
  | {
      readonly terminated: {
        readonly exitCode: number
        readonly reason: string
        readonly message?: string
        readonly startedAt: string
        readonly finishedAt: string
        readonly containerID?: string
      }
    }

/** What the agent tracks for one container. */
export interface ContainerRecord {
  readonly name: string
  readonly image: string
  readonly state: ContainerRunState
  readonly lastState: ContainerRunState | undefined
  readonly ready: boolean
  readonly started: boolean
  readonly restartCount: number
  readonly containerID: string | undefined
}

/** What the agent tracks for one Pod. */
export interface PodRecord {
  readonly restartPolicy: "Always" | "OnFailure" | "Never"
  readonly scheduled: { readonly status: boolean; readonly reason?: string; readonly message?: string }
  readonly sandboxReady: boolean
  readonly podIP: string | undefined
  readonly hostIP: string | undefined
  readonly startTime: string | undefined
  readonly initContainers: ReadonlyArray<ContainerRecord>
  readonly containers: ReadonlyArray<ContainerRecord>
  /** A Pod-level terminal verdict (e.g. `activeDeadlineSeconds`). */
  readonly failure: { readonly reason: string; readonly message: string } | undefined
}

const isTerminated = (state: ContainerRunState): state is Extract<ContainerRunState, { terminated: unknown }> =>
  "terminated" in state

const initDone = (record: ContainerRecord): boolean =>
  isTerminated(record.state) && record.state.terminated.exitCode === 0

/** The phase, as the kubelet's `getPhase` decides it. */
export const podPhase = (pod: PodRecord): "Pending" | "Running" | "Succeeded" | "Failed" => {
  if (pod.failure !== undefined) return "Failed"
  if (!pod.scheduled.status || !pod.sandboxReady) return "Pending"
  const failedInit = pod.initContainers.some(
    (record) => isTerminated(record.state) && record.state.terminated.exitCode !== 0
  )
  if (failedInit && pod.restartPolicy === "Never") return "Failed"
  if (!pod.initContainers.every(initDone)) return "Pending"
  let running = 0
  let waiting = 0
  let stopped = 0
  let succeeded = 0
  for (const record of pod.containers) {
    if ("running" in record.state) running++
    else if (isTerminated(record.state)) {
      stopped++
      if (record.state.terminated.exitCode === 0) succeeded++
    } else if (record.lastState !== undefined && isTerminated(record.lastState)) stopped++
    else waiting++
  }
  if (waiting > 0) return "Pending"
  if (running > 0) return "Running"
  if (stopped > 0) {
    if (pod.restartPolicy === "Always") return "Running"
    if (stopped === succeeded) return "Succeeded"
    if (pod.restartPolicy === "Never") return "Failed"
    return "Running"
  }
  return "Pending"
}

interface Condition {
  readonly type: string
  readonly status: "True" | "False"
  readonly reason?: string
  readonly message?: string
}

const containerStatus = (record: ContainerRecord): JsonObject => ({
  name: record.name,
  image: record.image,
  imageID: record.containerID === undefined ? "" : `sandbox://${record.image}`,
  ...(record.containerID === undefined ? {} : { containerID: record.containerID }),
  ready: record.ready,
  started: record.started,
  restartCount: record.restartCount,
  state: record.state,
  lastState: record.lastState ?? {}
})

/** The full `status` of the Pod; `previous` supplies the transition times of unchanged conditions. */
export const podStatus = (pod: PodRecord, now: string, previous: JsonObject | undefined): JsonObject => {
  const phase = podPhase(pod)
  const terminal = phase === "Succeeded" || phase === "Failed"
  const pendingInit = pod.initContainers.filter((record) => !initDone(record)).map((record) => record.name)
  const unready = pod.containers.filter((record) => !record.ready).map((record) => record.name)
  const conditions: Array<Condition> = [
    {
      type: "PodScheduled",
      status: pod.scheduled.status ? "True" : "False",
      ...(pod.scheduled.reason === undefined ? {} : { reason: pod.scheduled.reason }),
      ...(pod.scheduled.message === undefined ? {} : { message: pod.scheduled.message })
    }
  ]
  if (pod.scheduled.status) {
    conditions.push({ type: "PodReadyToStartContainers", status: pod.sandboxReady && !terminal ? "True" : "False" })
    conditions.push(
      pendingInit.length === 0
        ? { type: "Initialized", status: "True" }
        : {
            type: "Initialized",
            status: "False",
            reason: "ContainersNotInitialized",
            message: `containers with incomplete status: [${pendingInit.join(" ")}]`
          }
    )
    const ready: Condition =
      terminal && phase === "Succeeded"
        ? { type: "Ready", status: "False", reason: "PodCompleted" }
        : unready.length === 0
          ? { type: "Ready", status: "True" }
          : {
              type: "Ready",
              status: "False",
              reason: "ContainersNotReady",
              message: `containers with unready status: [${unready.join(" ")}]`
            }
    conditions.push({ ...ready, type: "ContainersReady" }, ready)
  }
  const before = new Map<string, JsonObject>()
  const previousConditions = previous?.conditions
  if (Array.isArray(previousConditions)) {
    for (const condition of previousConditions as Array<JsonObject>) before.set(String(condition.type), condition)
  }
  const withTimes = conditions.map((condition) => {
    const old = before.get(condition.type)
    const since =
      old?.status === condition.status && typeof old.lastTransitionTime === "string" ? old.lastTransitionTime : now
    return { ...condition, lastProbeTime: null, lastTransitionTime: since }
  })
  return {
    phase,
    conditions: withTimes,
    ...(pod.failure === undefined ? {} : { reason: pod.failure.reason, message: pod.failure.message }),
    ...(pod.hostIP === undefined ? {} : { hostIP: pod.hostIP, hostIPs: [{ ip: pod.hostIP }] }),
    ...(pod.podIP === undefined ? {} : { podIP: pod.podIP, podIPs: [{ ip: pod.podIP }] }),
    ...(pod.startTime === undefined ? {} : { startTime: pod.startTime }),
    ...(pod.initContainers.length === 0 ? {} : { initContainerStatuses: pod.initContainers.map(containerStatus) }),
    containerStatuses: pod.containers.map(containerStatus),
    qosClass: "BestEffort"
  }
}
