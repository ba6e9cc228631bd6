/**
 * One Pod on the sandbox node, from scheduling to removal — the kubelet's pod worker (Pod lifecycle):
 *
 * 1. schedule: wait until every PersistentVolumeClaim is bound (the scheduler's `FailedScheduling` meanwhile),
 *    then bind (`spec.nodeName`), assign the Pod IP, write `PodScheduled`, `podIP`, `hostIP`, `startTime`;
 * 2. set up the volumes (retried, `FailedMount` events), the hosts file and the termination-message files;
 * 3. run the init containers in order, each to success (restarted with back-off unless `restartPolicy: Never`,
 *    which fails the Pod), then start every container;
 * 4. each container: image → environment → security checks → process; probes while it runs; on exit the
 *    termination message, then a restart after the crash-loop back-off as `restartPolicy` asks;
 * 5. deletion (`deletionTimestamp`): preStop hooks, SIGTERM, the grace period, SIGKILL, a terminal status,
 *    then the Pod is deleted for good (grace 0, uid precondition) and its directory removed.
 *
 * Every change goes out as one status write, skipped when nothing changed.
 *
 * @since 0.1.0
 */
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { mkdir, rm } from "node:fs/promises"
import { join } from "node:path"
import { Clock, Deferred, Effect, Fiber, Option, Result, Semaphore } from "effect"
import { metaV1Time } from "../../api/time.ts"
import type { FakeClusterService, ResourceRef } from "../FakeCluster.ts"
import { isRecord, type JsonObject, jsonEqual, type StoredObject } from "../StoredObject.ts"
import type { DownwardPod, NodeAllocatable } from "./downward.ts"
import { ContainerConfigError, containerEnvironment, expandReferences } from "./env.ts"
import { type PodEvents, podEvents } from "./events.ts"
import { imageAppPath, imageBinPath, resolveImage } from "./images.ts"
import { boundLogFile, openRunLog, runLogFile } from "./logs.ts"
import type { Container, PodSpec, Probe } from "./podSpec.ts"
import { type ProbeTarget, runHandler } from "./probes.ts"
import { type BindMount, type ContainerExit, type ContainerProcess, launchContainer } from "./runtime.ts"
import { type ContainerRecord, type ContainerRunState, type PodRecord, podStatus } from "./status.ts"
import {
  type PreparedVolume,
  prepareVolumes,
  serviceAccountMountPath,
  serviceAccountVolumeName,
  VolumeSetupError
} from "./volumes.ts"

/** The token of one Pod's service-account volume: for its ServiceAccount, bound to the Pod. */
export interface ServiceAccountTokenRequest {
  readonly namespace: string
  readonly serviceAccount: string
  readonly pod: { readonly name: string; readonly uid: string }
}

/** What every pod worker shares: the node's settings and services. */
export interface NodeContext {
  readonly cluster: FakeClusterService
  readonly nodeName: string
  readonly hostIP: string
  readonly stateDir: string
  readonly binDir: string
  /** The checkout our images carry, mounted at `imageAppPath`. */
  readonly projectRoot: string
  readonly allocatable: NodeAllocatable
  readonly backoffInitialMillis: number
  readonly backoffCapMillis: number
  /** How often a Pod waiting on something outside it (a Secret, a claim, an image) looks again. */
  readonly retryMillis: number
  readonly logMaxBytes: number
  readonly caCertificate: string
  /** The token a Pod's service-account volume holds (the kubelet gets it from the TokenRequest API). */
  readonly serviceAccountToken: (
    request: ServiceAccountTokenRequest
  ) => Effect.Effect<string, { readonly message: string }>
  /** `KUBERNETES_SERVICE_HOST`/`_PORT` for containers, when the API server has an address Pods can use. */
  readonly apiServiceEnv: Readonly<Record<string, string>>
  readonly allocateIP: Effect.Effect<string, unknown>
  readonly releaseIP: (ip: string) => Effect.Effect<void>
  /** Registers the Pod's hosts file with the node's DNS records (rewritten when they change). */
  readonly registerHosts: (uid: string, path: string) => Effect.Effect<void>
  readonly unregisterHosts: (uid: string) => Effect.Effect<void>
}

/** The handle the node agent keeps for a running pod worker. */
export interface PodWorker {
  /** Feeds the latest version of the Pod (or `undefined` once it is gone from the API). */
  readonly update: (pod: StoredObject | undefined) => Effect.Effect<void>
  /** Log files of the Pod's containers, for `pods/log`. */
  readonly logState: (
    container: string
  ) =>
    | { readonly current?: string; readonly previous?: string; readonly waiting?: string; readonly running: boolean }
    | undefined
  /** Stops the Pod's containers (grace capped at `graceCapSeconds`) without deleting it: the node goes away. */
  readonly shutdown: (graceCapSeconds: number) => Effect.Effect<void>
  readonly done: Effect.Effect<void>
}

const podsRef = (namespace: string): ResourceRef => ({ group: "", version: "v1", plural: "pods", namespace })
const decodeData = (object: StoredObject, binary: boolean): Record<string, string> | Record<string, Buffer> => {
  const out: Record<string, string | Buffer> = {}
  const data = isRecord(object.data) ? object.data : {}
  const raw = isRecord(object.binaryData) ? object.binaryData : {}
  if (object.kind === "Secret") {
    for (const [key, value] of Object.entries(data)) {
      const bytes = Buffer.from(String(value), "base64")
      out[key] = binary ? bytes : bytes.toString("utf8")
    }
  } else {
    for (const [key, value] of Object.entries(data)) out[key] = binary ? Buffer.from(String(value)) : String(value)
    for (const [key, value] of Object.entries(raw)) {
      const bytes = Buffer.from(String(value), "base64")
      out[key] = binary ? bytes : bytes.toString("utf8")
    }
  }
  return out as Record<string, string> | Record<string, Buffer>
}

interface Mutable<T> {
  value: T
}

/** A probe's consecutive successes and failures so far. */
interface ProbeCount {
  readonly ok: number
  readonly failed: number
}

/** A probe's `successThreshold` and `failureThreshold`, defaulted. */
interface ProbeLimits {
  readonly success: number
  readonly failure: number
}

interface ContainerSlot {
  readonly spec: Container
  readonly init: boolean
  record: ContainerRecord
  process: ContainerProcess | undefined
  env: Record<string, string>
  uid: number
  gid: number
  /** Set while the agent stops the container on purpose (liveness, deletion): the exit is not a crash. */
  stopping: boolean
  currentLog: string | undefined
  previousLog: string | undefined
  /** The run in progress: what its terminated state needs. */
  run: { readonly terminationLog: string; readonly startedAt: string; readonly containerID: string } | undefined
}

const waiting = (reason: string, message?: string): ContainerRunState => ({
  waiting: message === undefined ? { reason } : { reason, message }
})

/** Starts the worker of one Pod (forked into the agent's scope by the caller). */
export const startPodWorker = (node: NodeContext, first: StoredObject, spec: PodSpec): Effect.Effect<PodWorker> =>
  Effect.gen(function* () {
    const { cluster } = node
    const uid = first.metadata.uid ?? ""
    const name = first.metadata.name ?? ""
    const namespace = first.metadata.namespace ?? "default"
    const podDir = join(node.stateDir, "pods", uid)
    const latest: Mutable<StoredObject> = { value: first }
    const gone = yield* Deferred.make<void>()
    const deletion = yield* Deferred.make<void>()
    const finished = yield* Deferred.make<void>()
    const nodeShutdown = yield* Deferred.make<number>()
    const events: PodEvents = podEvents(cluster, first, node.nodeName)
    const publishLock = yield* Semaphore.make(1)
    const restartPolicy = spec.restartPolicy ?? "Always"
    const slots = new Map<string, ContainerSlot>()
    const slotOf = (container: Container, init: boolean): ContainerSlot => ({
      spec: container,
      init,
      record: {
        name: container.name,
        image: container.image ?? "",
        state: waiting(init ? "PodInitializing" : "ContainerCreating"),
        lastState: undefined,
        ready: false,
        started: false,
        restartCount: 0,
        containerID: undefined
      },
      process: undefined,
      env: {},
      uid: 0,
      gid: 0,
      stopping: false,
      currentLog: undefined,
      previousLog: undefined,
      run: undefined
    })
    const initSlots = (spec.initContainers ?? []).map((container) => slotOf(container, true))
    const mainSlots = spec.containers.map((container) => slotOf(container, false))
    for (const slot of [...initSlots, ...mainSlots]) slots.set(slot.spec.name, slot)
    for (const slot of initSlots) slot.record = { ...slot.record, state: waiting("PodInitializing") }
    const pod: {
      scheduled: PodRecord["scheduled"]
      sandboxReady: boolean
      podIP: string | undefined
      startTime: string | undefined
      failure: PodRecord["failure"]
      terminating: boolean
    } = {
      scheduled: { status: false },
      sandboxReady: false,
      podIP: undefined,
      startTime: undefined,
      failure: undefined,
      terminating: false
    }
    let lastWritten: JsonObject | undefined
    const now = Effect.map(Clock.currentTimeMillis, metaV1Time)

    const publish = publishLock.withPermits(1)(
      Effect.gen(function* () {
        const record: PodRecord = {
          restartPolicy: pod.terminating ? "Never" : restartPolicy,
          scheduled: pod.scheduled,
          sandboxReady: pod.sandboxReady,
          podIP: pod.podIP,
          hostIP: pod.podIP === undefined ? undefined : node.hostIP,
          startTime: pod.startTime,
          initContainers: initSlots.map((slot) => slot.record),
          containers: mainSlots.map((slot) => slot.record),
          failure: pod.failure
        }
        const previous = isRecord(latest.value.status) ? latest.value.status : undefined
        const status = podStatus(record, yield* now, lastWritten ?? previous)
        const qosClass = previous?.qosClass
        const full = { ...status, ...(typeof qosClass === "string" ? { qosClass } : {}) }
        if (lastWritten !== undefined && jsonEqual(full, lastWritten)) return
        const written = yield* Effect.option(cluster.statusMergePatch(podsRef(namespace), name, { status: full }))
        if (Option.isSome(written)) {
          lastWritten = full
          latest.value = written.value
        }
      })
    )

    const pause = (millis: number) => Effect.sleep(`${Math.max(0, millis)} millis`)

    // ---- scheduling ----

    const claimRef = { group: "", version: "v1", plural: "persistentvolumeclaims", namespace }
    const pvRef = { group: "", version: "v1", plural: "persistentvolumes" }
    const claims = (spec.volumes ?? []).flatMap((volume) =>
      volume.persistentVolumeClaim === undefined ? [] : [volume.persistentVolumeClaim.claimName]
    )
    /** Why the scheduler would not place the Pod yet, or undefined when it can. */
    const unschedulable = Effect.gen(function* () {
      for (const claim of claims) {
        const found = yield* Effect.option(cluster.get(claimRef, claim))
        if (Option.isNone(found))
          return `0/1 nodes are available: persistentvolumeclaim "${claim}" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`
        const object = found.value
        if (object.metadata.deletionTimestamp !== undefined)
          return `0/1 nodes are available: persistentvolumeclaim "${claim}" is being deleted. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`
        const phase = isRecord(object.status) ? object.status.phase : undefined
        if (phase !== "Bound")
          return "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
      }
      return undefined
    })
    const claimPath = (claim: string): Effect.Effect<string, VolumeSetupError> =>
      Effect.gen(function* () {
        const object = yield* Effect.mapError(
          cluster.get(claimRef, claim),
          () => new VolumeSetupError({ message: `persistentvolumeclaim "${claim}" not found` })
        )
        const volumeName = isRecord(object.spec) ? object.spec.volumeName : undefined
        if (typeof volumeName !== "string" || volumeName === "") {
          return yield* new VolumeSetupError({ message: `persistentvolumeclaim "${claim}" is not bound` })
        }
        const volume = yield* Effect.mapError(
          cluster.get(pvRef, volumeName),
          () => new VolumeSetupError({ message: `persistentvolume "${volumeName}" not found` })
        )
        const hostPath = isRecord(volume.spec) && isRecord(volume.spec.hostPath) ? volume.spec.hostPath.path : undefined
        if (typeof hostPath !== "string") {
          return yield* new VolumeSetupError({
            message: `persistentvolume "${volumeName}" has no hostPath: the sandbox node mounts only hostPath volumes`
          })
        }
        yield* Effect.promise(() => mkdir(hostPath, { recursive: true }))
        return hostPath
      })

    const schedule = Effect.gen(function* () {
      let reported: string | undefined
      for (;;) {
        const why = yield* unschedulable
        if (why === undefined) break
        if (why !== reported) {
          reported = why
          pod.scheduled = { status: false, reason: "Unschedulable", message: why }
          yield* publish
          yield* events.emit("Warning", "FailedScheduling", why, { component: "default-scheduler" })
        }
        yield* pause(node.retryMillis)
      }
      if (spec.nodeName === undefined || spec.nodeName === "") {
        const bound = yield* Effect.option(
          cluster.mergePatch(podsRef(namespace), name, { spec: { nodeName: node.nodeName } })
        )
        if (Option.isSome(bound)) latest.value = bound.value
        yield* events.emit("Normal", "Scheduled", `Successfully assigned ${namespace}/${name} to ${node.nodeName}`, {
          component: "default-scheduler"
        })
      }
      pod.scheduled = { status: true }
      pod.podIP = yield* Effect.orDie(node.allocateIP)
      pod.startTime = yield* now
      yield* publish
    })

    // ---- the sandbox: directories, volumes, hosts ----

    const downward = (): DownwardPod => ({
      name,
      namespace,
      uid,
      labels: (latest.value.metadata.labels ?? {}) as Record<string, string>,
      annotations: (latest.value.metadata.annotations ?? {}) as Record<string, string>,
      nodeName: node.nodeName,
      serviceAccountName: spec.serviceAccountName ?? "default",
      podIP: pod.podIP ?? "",
      hostIP: node.hostIP
    })
    const lookup = (plural: "secrets" | "configmaps", binary: boolean) => (objectName: string) =>
      Effect.map(Effect.option(cluster.get({ group: "", version: "v1", plural, namespace }, objectName)), (found) =>
        Option.isNone(found) ? undefined : decodeData(found.value, binary)
      )
    const automount = spec.automountServiceAccountToken !== false
    let volumes: ReadonlyArray<PreparedVolume> = []
    const hostsFile = join(podDir, "etc-hosts")

    const setUp = Effect.gen(function* () {
      yield* Effect.promise(() => mkdir(join(podDir, "containers"), { recursive: true }))
      writeFileSync(hostsFile, "")
      yield* node.registerHosts(uid, hostsFile)
      let reported: string | undefined
      const serviceAccount = spec.serviceAccountName ?? "default"
      const mountsToken =
        automount ||
        (spec.volumes ?? []).some((volume) =>
          (volume.projected?.sources ?? []).some((source) => source.serviceAccountToken !== undefined)
        )
      for (;;) {
        // the kubelet's TokenRequest: a Pod that mounts no token asks for none (its ServiceAccount may not exist)
        const token = mountsToken
          ? yield* Effect.result(node.serviceAccountToken({ namespace, serviceAccount, pod: { name, uid } }))
          : Result.succeed("")
        if (token._tag === "Failure") {
          const message = `MountVolume.SetUp failed for volume "${serviceAccountVolumeName}" : failed to fetch token: ${token.failure.message}`
          if (message !== reported) {
            reported = message
            yield* events.emit("Warning", "FailedMount", message)
          }
          yield* pause(node.retryMillis)
          continue
        }
        const result = yield* Effect.result(
          prepareVolumes(
            {
              podDir,
              pod: downward(),
              spec,
              node: node.allocatable,
              secret: lookup("secrets", true) as (n: string) => Effect.Effect<Record<string, Buffer> | undefined>,
              configMap: lookup("configmaps", true) as (n: string) => Effect.Effect<Record<string, Buffer> | undefined>,
              claimPath,
              caCertificate: node.caCertificate,
              token: () => token.success
            },
            automount
          )
        )
        if (result._tag === "Success") {
          volumes = result.success
          break
        }
        if (result.failure.message !== reported) {
          reported = result.failure.message
          yield* events.emit("Warning", "FailedMount", result.failure.message)
        }
        yield* pause(node.retryMillis)
      }
      pod.sandboxReady = true
      yield* publish
    })

    // ---- one container ----

    const fieldPathOf = (slot: ContainerSlot) =>
      `spec.${slot.init ? "initContainers" : "containers"}{${slot.spec.name}}`
    const podRef = `${name}_${namespace}(${uid})`

    const mountsOf = (
      slot: ContainerSlot,
      terminationLog: string
    ): Effect.Effect<Array<BindMount>, ContainerConfigError> =>
      Effect.gen(function* () {
        const byName = new Map(volumes.map((volume) => [volume.name, volume]))
        const mounts: Array<BindMount> = []
        const volumeMounts = [...(slot.spec.volumeMounts ?? [])]
        if (
          automount &&
          byName.has(serviceAccountVolumeName) &&
          !volumeMounts.some((mount) => mount.mountPath === serviceAccountMountPath)
        ) {
          volumeMounts.push({ name: serviceAccountVolumeName, mountPath: serviceAccountMountPath, readOnly: true })
        }
        for (const mount of volumeMounts) {
          const volume = byName.get(mount.name)
          if (volume === undefined) {
            return yield* new ContainerConfigError({
              message: `cannot find volume "${mount.name}" to mount into container "${slot.spec.name}"`
            })
          }
          const sub = mount.subPath ?? ""
          if (sub.startsWith("/") || sub.split("/").includes("..")) {
            return yield* new ContainerConfigError({
              message: `failed to prepare subPath for volumeMount "${mount.name}" of container "${slot.spec.name}"`
            })
          }
          const source = sub === "" ? volume.path : join(volume.path, sub)
          let file = false
          if (sub !== "") {
            if (!existsSync(source)) yield* Effect.promise(() => mkdir(source, { recursive: true }))
            file = !statSync(source).isDirectory()
          }
          mounts.push({
            source,
            target: mount.mountPath,
            // Secret, ConfigMap, downward API and projected volumes are always mounted read-only
            readOnly: mount.readOnly === true || volume.readOnlyContent,
            file
          })
        }
        mounts.push({ source: node.binDir, target: imageBinPath, readOnly: true, file: false, image: true })
        mounts.push({ source: node.projectRoot, target: imageAppPath, readOnly: true, file: false, image: true })
        mounts.push({ source: hostsFile, target: "/etc/hosts", readOnly: false, file: true })
        mounts.push({
          source: terminationLog,
          target: slot.spec.terminationMessagePath ?? "/dev/termination-log",
          readOnly: false,
          file: true
        })
        return mounts
      })

    const securityOf = (slot: ContainerSlot, imageUser: number, imageGroup: number) => {
      const podContext = spec.securityContext ?? {}
      const context = slot.spec.securityContext ?? {}
      const uidExplicit = context.runAsUser ?? podContext.runAsUser
      const userId = uidExplicit ?? imageUser
      const groupId = context.runAsGroup ?? podContext.runAsGroup ?? (uidExplicit === undefined ? imageGroup : 0)
      const nonRoot = context.runAsNonRoot ?? podContext.runAsNonRoot
      const groups = [
        groupId,
        ...(podContext.fsGroup === undefined ? [] : [podContext.fsGroup]),
        ...(podContext.supplementalGroups ?? [])
      ]
      let refusal: string | undefined
      if (nonRoot === true && userId === 0) {
        refusal =
          uidExplicit === undefined
            ? `container has runAsNonRoot and image will run as root (pod: "${podRef}", container: ${slot.spec.name})`
            : `container's runAsUser breaks non-root policy (pod: "${podRef}", container: ${slot.spec.name})`
      }
      return { uid: userId, gid: groupId, groups, refusal, readOnlyRoot: context.readOnlyRootFilesystem === true }
    }

    const setWaiting = (slot: ContainerSlot, reason: string, message?: string) =>
      Effect.suspend(() => {
        slot.record = { ...slot.record, state: waiting(reason, message), ready: false, started: false }
        return publish
      })

    const probeTarget = (slot: ContainerSlot, process: ContainerProcess): ProbeTarget => ({
      podIP: pod.podIP ?? "",
      container: slot.spec,
      env: slot.env,
      uid: slot.uid,
      gid: slot.gid,
      initPid: process.initPid
    })

    /** Stops a running container: preStop, SIGTERM, the grace period, SIGKILL. */
    const stopContainer = (slot: ContainerSlot, graceSeconds: number, message: string) =>
      Effect.gen(function* () {
        const process = slot.process
        if (process === undefined || !(yield* process.isRunning)) return
        slot.stopping = true
        yield* events.emit("Normal", "Killing", message, { fieldPath: fieldPathOf(slot) })
        const started = yield* Clock.currentTimeMillis
        const preStop = slot.spec.lifecycle?.preStop
        if (preStop !== undefined && graceSeconds > 0) {
          const hook = yield* Effect.timeoutOption(
            runHandler(preStop, probeTarget(slot, process), graceSeconds * 1000),
            `${graceSeconds} seconds`
          )
          if (Option.isSome(hook) && !hook.value.success) {
            yield* events.emit("Warning", "FailedPreStopHook", `PreStopHook failed: ${hook.value.message}`, {
              fieldPath: fieldPathOf(slot)
            })
          }
        }
        yield* process.signal("SIGTERM")
        const left = graceSeconds * 1000 - ((yield* Clock.currentTimeMillis) - started)
        const exited = yield* Effect.timeoutOption(process.exited, `${Math.max(0, left)} millis`)
        if (Option.isNone(exited)) yield* process.signal("SIGKILL")
        return yield* process.exited
      })

    /** Runs the probes of a running container until it exits; liveness and startup failures stop it. */
    const probeLoop = (slot: ContainerSlot, process: ContainerProcess) =>
      Effect.gen(function* () {
        const target = probeTarget(slot, process)
        const startedAt = yield* Clock.currentTimeMillis
        /**
         * Runs `probe` every period; `onResult` sees the consecutive successes and failures so far (a result
         * ends the other run, as the kubelet counts them) with the probe's thresholds, and says whether to go on.
         */
        const run = (
          probe: Probe,
          kind: "Startup" | "Liveness" | "Readiness",
          onResult: (count: ProbeCount, limits: ProbeLimits) => Effect.Effect<boolean>
        ) =>
          Effect.gen(function* () {
            const limits = { success: probe.successThreshold ?? 1, failure: probe.failureThreshold ?? 3 }
            const count = { ok: 0, failed: 0 }
            const delay = (probe.initialDelaySeconds ?? 0) * 1000 - ((yield* Clock.currentTimeMillis) - startedAt)
            if (delay > 0) yield* Effect.sleep(`${delay} millis`)
            const period = (probe.periodSeconds ?? 10) * 1000
            const timeout = (probe.timeoutSeconds ?? 1) * 1000
            for (;;) {
              const result = yield* runHandler(probe, target, timeout)
              if (result.success) {
                count.ok++
                count.failed = 0
              } else {
                count.failed++
                count.ok = 0
                yield* events.emit("Warning", "Unhealthy", `${kind} probe failed: ${result.message}`, {
                  fieldPath: fieldPathOf(slot)
                })
              }
              if (!(yield* onResult(count, limits))) return
              yield* Effect.sleep(`${period} millis`)
            }
          })
        const startup = slot.spec.startupProbe
        if (startup !== undefined) {
          let passed = false
          yield* run(startup, "Startup", (count, limits) =>
            Effect.gen(function* () {
              if (count.ok >= limits.success) {
                passed = true
                return false
              }
              if (count.failed >= limits.failure) {
                const grace = startup.terminationGracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30
                yield* stopContainer(slot, grace, `Container ${slot.spec.name} failed startup probe, will be restarted`)
                return false
              }
              return true
            })
          )
          if (!passed) return
        }
        slot.record = { ...slot.record, started: true, ready: slot.spec.readinessProbe === undefined }
        yield* publish
        const readiness = slot.spec.readinessProbe
        const liveness = slot.spec.livenessProbe
        const loops: Array<Effect.Effect<void>> = []
        if (readiness !== undefined) {
          loops.push(
            run(readiness, "Readiness", (count, limits) =>
              Effect.gen(function* () {
                const ready = slot.record.ready ? count.failed < limits.failure : count.ok >= limits.success
                if (ready !== slot.record.ready) {
                  slot.record = { ...slot.record, ready }
                  yield* publish
                }
                return true
              })
            )
          )
        }
        if (liveness !== undefined) {
          loops.push(
            run(liveness, "Liveness", (count, limits) =>
              Effect.gen(function* () {
                if (count.failed < limits.failure) return true
                const grace = liveness.terminationGracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30
                yield* stopContainer(
                  slot,
                  grace,
                  `Container ${slot.spec.name} failed liveness probe, will be restarted`
                )
                return false
              })
            )
          )
        }
        yield* Effect.all(loops, { concurrency: "unbounded", discard: true })
      })

    /** The container's terminated state from how its run ended (also when the agent stopped it on deletion). */
    const recordExit = (
      slot: ContainerSlot,
      exit: ContainerExit,
      run: { readonly terminationLog: string; readonly startedAt: string; readonly containerID: string }
    ) =>
      Effect.gen(function* () {
        if (slot.currentLog !== undefined) yield* boundLogFile(slot.currentLog, node.logMaxBytes)
        const finishedAt = yield* now
        const message = exit.startError ?? terminationMessage(slot, run.terminationLog, exit.exitCode)
        const reason = exit.startError !== undefined ? "StartError" : exit.exitCode === 0 ? "Completed" : "Error"
        slot.record = {
          ...slot.record,
          state: {
            terminated: {
              exitCode: exit.exitCode,
              reason,
              ...(message === undefined ? {} : { message }),
              startedAt: run.startedAt,
              finishedAt,
              containerID: run.containerID
            }
          },
          ready: false,
          started: false
        }
        slot.run = undefined
        yield* publish
      })

    /** One run of a container; resolves with its exit code (undefined when it could not be started yet). */
    const runOnce = (slot: ContainerSlot) =>
      Effect.gen(function* () {
        const image = slot.spec.image ?? ""
        const resolved = resolveImage(image)
        if (resolved._tag === "Unavailable") {
          yield* events.emit("Warning", "Failed", resolved.message, { fieldPath: fieldPathOf(slot) })
          yield* events.emit("Warning", "Failed", "Error: ErrImagePull", { fieldPath: fieldPathOf(slot) })
          yield* setWaiting(slot, "ErrImagePull", resolved.message)
          yield* pause(node.retryMillis)
          yield* events.emit("Normal", "BackOff", `Back-off pulling image "${image}"`, { fieldPath: fieldPathOf(slot) })
          yield* setWaiting(slot, "ImagePullBackOff", `Back-off pulling image "${image}": ${resolved.message}`)
          yield* pause(node.retryMillis)
          return undefined
        }
        const config = resolved.config
        const security = securityOf(slot, config.user, config.group)
        const configured = yield* Effect.result(
          Effect.gen(function* () {
            if (security.refusal !== undefined) return yield* new ContainerConfigError({ message: security.refusal })
            return yield* containerEnvironment(slot.spec, {
              pod: downward(),
              containers: [...spec.containers, ...(spec.initContainers ?? [])],
              node: node.allocatable,
              secret: lookup("secrets", false) as (n: string) => Effect.Effect<Record<string, string> | undefined>,
              configMap: lookup("configmaps", false) as (n: string) => Effect.Effect<Record<string, string> | undefined>
            })
          })
        )
        if (configured._tag === "Failure") {
          const message = configured.failure.message
          yield* events.emit("Warning", "Failed", `Error: ${message}`, { fieldPath: fieldPathOf(slot) })
          yield* setWaiting(slot, "CreateContainerConfigError", message)
          yield* pause(node.retryMillis)
          return undefined
        }
        yield* events.emit("Normal", "Pulled", `Container image "${image}" already present on machine`, {
          fieldPath: fieldPathOf(slot)
        })
        const env: Record<string, string> = {
          PATH: config.path,
          HOSTNAME: spec.hostname ?? name,
          ...node.apiServiceEnv,
          ...configured.success
        }
        const command = slot.spec.command ?? config.entrypoint
        const args = slot.spec.command === undefined ? (slot.spec.args ?? config.cmd) : (slot.spec.args ?? [])
        const argv = [...command, ...args].map((arg) => expandReferences(arg, env))
        const runDir = join(podDir, "containers", slot.spec.name, String(slot.record.restartCount))
        yield* Effect.promise(async () => {
          await rm(runDir, { recursive: true, force: true })
          await mkdir(runDir, { recursive: true })
        })
        const terminationLog = join(runDir, "termination-log")
        writeFileSync(terminationLog, "")
        // the kubelet makes it world-writable: any container user must be able to write its message
        chmodSync(terminationLog, 0o666)
        const mounts = yield* Effect.result(mountsOf(slot, terminationLog))
        if (mounts._tag === "Failure") {
          yield* events.emit("Warning", "Failed", `Error: ${mounts.failure.message}`, { fieldPath: fieldPathOf(slot) })
          yield* setWaiting(slot, "CreateContainerConfigError", mounts.failure.message)
          yield* pause(node.retryMillis)
          return undefined
        }
        slot.env = env
        slot.uid = security.uid
        slot.gid = security.gid
        slot.stopping = false
        slot.previousLog = slot.currentLog
        slot.currentLog = runLogFile(podDir, slot.spec.name, slot.record.restartCount)
        const logFd = yield* openRunLog(podDir, slot.spec.name, slot.record.restartCount)
        const containerID = `sandbox://${uid.slice(0, 8)}-${slot.spec.name}-${slot.record.restartCount}`
        const process = yield* launchContainer({
          dir: runDir,
          hostname: spec.hostname ?? name,
          uid: security.uid,
          gid: security.gid,
          groups: security.groups,
          workingDir: slot.spec.workingDir ?? "/",
          readOnlyRoot: security.readOnlyRoot,
          argv,
          env,
          mounts: mounts.success,
          logFd
        })
        slot.process = process
        const startedMillis = yield* Clock.currentTimeMillis
        const startedAt = metaV1Time(startedMillis)
        yield* events.emit("Normal", "Created", `Created container: ${slot.spec.name}`, {
          fieldPath: fieldPathOf(slot)
        })
        yield* events.emit("Normal", "Started", `Started container ${slot.spec.name}`, { fieldPath: fieldPathOf(slot) })
        slot.run = { terminationLog, startedAt, containerID }
        const hasStartup = slot.spec.startupProbe !== undefined
        slot.record = {
          ...slot.record,
          state: { running: { startedAt } },
          containerID,
          started: !hasStartup,
          ready: slot.init ? false : !hasStartup && slot.spec.readinessProbe === undefined
        }
        yield* publish
        const probes = slot.init ? undefined : yield* Effect.forkChild(probeLoop(slot, process))
        const bounding = yield* Effect.forkChild(
          Effect.forever(Effect.andThen(Effect.sleep("5 seconds"), boundLogFile(slot.currentLog, node.logMaxBytes)))
        )
        const exit = yield* process.exited
        if (probes !== undefined) yield* Fiber.interrupt(probes)
        yield* Fiber.interrupt(bounding)
        yield* recordExit(slot, exit, { terminationLog, startedAt, containerID })
        return { exitCode: exit.exitCode, ranMillis: (yield* Clock.currentTimeMillis) - startedMillis }
      })

    /** Runs a container as its restart policy says; resolves when it is done for good. */
    const containerLoop = (slot: ContainerSlot) =>
      Effect.gen(function* () {
        let backoff = 0
        for (;;) {
          const outcome = yield* runOnce(slot)
          if (outcome === undefined) continue
          const restart = slot.init
            ? outcome.exitCode !== 0 && restartPolicy !== "Never"
            : restartPolicy === "Always" || (restartPolicy === "OnFailure" && outcome.exitCode !== 0)
          if (!restart) return outcome.exitCode
          // the kubelet forgets the back-off of a container that ran well for twice the cap
          if (outcome.ranMillis > 2 * node.backoffCapMillis) backoff = 0
          const last = slot.record.state
          if (backoff > 0) {
            slot.record = {
              ...slot.record,
              lastState: last,
              state: waiting(
                "CrashLoopBackOff",
                `back-off ${formatDuration(backoff)} restarting failed container=${slot.spec.name} pod=${podRef}`
              )
            }
            yield* publish
            yield* events.emit(
              "Warning",
              "BackOff",
              `Back-off restarting failed container ${slot.spec.name} in pod ${podRef}`,
              { fieldPath: fieldPathOf(slot) }
            )
            yield* Effect.sleep(`${backoff} millis`)
          }
          slot.record = { ...slot.record, lastState: last, restartCount: slot.record.restartCount + 1 }
          backoff = backoff === 0 ? node.backoffInitialMillis : Math.min(node.backoffCapMillis, backoff * 2)
        }
      })

    const deadlineSeconds = spec.activeDeadlineSeconds
    const activeDeadline =
      deadlineSeconds === undefined
        ? Effect.never
        : Effect.gen(function* () {
            yield* Effect.sleep(`${deadlineSeconds} seconds`)
            pod.failure = {
              reason: "DeadlineExceeded",
              message: `Pod was active on the node longer than the specified deadline`
            }
          })

    const lifecycle = Effect.gen(function* () {
      yield* schedule
      yield* setUp
      for (const slot of initSlots) {
        const exitCode = yield* containerLoop(slot)
        if (exitCode !== 0) {
          for (const main of mainSlots) main.record = { ...main.record, state: waiting("PodInitializing") }
          yield* publish
          return
        }
      }
      yield* Effect.all(mainSlots.map(containerLoop), { concurrency: "unbounded", discard: true })
    })

    /** Stops every container and removes the Pod from the node (and, when asked, from the API). */
    const terminate = (graceSeconds: number, deleteObject: boolean) =>
      Effect.gen(function* () {
        pod.terminating = true
        yield* Effect.all(
          [...slots.values()].map((slot) =>
            Effect.gen(function* () {
              const exit = yield* stopContainer(slot, graceSeconds, `Stopping container ${slot.spec.name}`)
              // the run loop was interrupted: the terminated state is written here
              const run = slot.run
              if (exit !== undefined && run !== undefined) yield* recordExit(slot, exit, run)
            })
          ),
          { concurrency: "unbounded", discard: true }
        )
        for (const slot of slots.values()) {
          if ("terminated" in slot.record.state) continue
          if (slot.init && !("running" in slot.record.state)) continue
          if ("waiting" in slot.record.state && slot.record.lastState === undefined) {
            slot.record = {
              ...slot.record,
              state: {
                terminated: {
                  exitCode: 137,
                  reason: "ContainerStatusUnknown",
                  message: "The container could not be located when the pod was terminated",
                  startedAt: yield* now,
                  finishedAt: yield* now
                }
              }
            }
          }
        }
        if (deleteObject) yield* publish
        if (deleteObject) {
          yield* Effect.ignore(
            cluster.delete(podsRef(namespace), name, { gracePeriodSeconds: 0, preconditions: { uid } })
          )
        }
      })

    const cleanUp = Effect.gen(function* () {
      yield* node.unregisterHosts(uid)
      if (pod.podIP !== undefined) yield* node.releaseIP(pod.podIP)
      yield* Effect.promise(() => rm(podDir, { recursive: true, force: true }))
    })

    const untilRemoved = Effect.raceAllFirst([
      Effect.as(Deferred.await(deletion), "delete" as const),
      Effect.as(Deferred.await(gone), "gone" as const),
      Effect.as(Deferred.await(nodeShutdown), "shutdown" as const)
    ])

    const main = Effect.gen(function* () {
      const running = yield* Effect.forkChild(Effect.raceFirst(lifecycle, activeDeadline))
      const stop = yield* Effect.raceAllFirst([
        Effect.as(Deferred.await(deletion), "delete" as const),
        Effect.as(Deferred.await(gone), "gone" as const),
        Effect.as(Deferred.await(nodeShutdown), "shutdown" as const),
        Effect.as(Fiber.await(running), "finished" as const)
      ])
      if (stop === "shutdown") {
        yield* Fiber.interrupt(running)
        const cap = yield* Deferred.await(nodeShutdown)
        yield* terminate(Math.min(cap, spec.terminationGracePeriodSeconds ?? 30), false)
        return yield* cleanUp
      }
      if (stop === "finished" && pod.failure === undefined) {
        yield* publish
        // a terminal Pod stays on the node, its processes gone, until it is deleted
        const after = yield* untilRemoved
        yield* terminate(0, after === "delete")
      } else {
        yield* Fiber.interrupt(running)
        if (pod.failure !== undefined) {
          yield* terminate(spec.terminationGracePeriodSeconds ?? 30, false)
          yield* publish
          const after = yield* untilRemoved
          yield* terminate(0, after === "delete")
        } else {
          const grace = latest.value.metadata.deletionGracePeriodSeconds ?? 0
          yield* terminate(stop === "gone" ? 0 : grace, stop === "delete")
        }
      }
      yield* cleanUp
    }).pipe(Effect.ensuring(Deferred.succeed(finished, undefined)))

    yield* Effect.forkDetach(main)

    return {
      update: (next) =>
        Effect.gen(function* () {
          if (next === undefined) {
            yield* Deferred.succeed(gone, undefined)
            return
          }
          if (next.metadata.uid !== uid) return
          latest.value = next
          if (next.metadata.deletionTimestamp !== undefined) yield* Deferred.succeed(deletion, undefined)
        }),
      logState: (container) => {
        const slot = slots.get(container)
        if (slot === undefined) return undefined
        const state = slot.record.state
        return {
          ...(slot.currentLog === undefined ? {} : { current: slot.currentLog }),
          ...(slot.previousLog === undefined ? {} : { previous: slot.previousLog }),
          ...("waiting" in state && slot.currentLog === undefined ? { waiting: state.waiting.reason } : {}),
          running: "running" in state
        }
      },
      shutdown: (cap) => Effect.andThen(Deferred.succeed(nodeShutdown, cap), Deferred.await(finished)),
      done: Deferred.await(finished)
    } satisfies PodWorker
  })

/** The termination message: the file's content (at most 4 KiB), else with FallbackToLogsOnError the log tail. */
const terminationMessage = (slot: ContainerSlot, path: string, exitCode: number): string | undefined => {
  let text = ""
  try {
    text = readFileSync(path, "utf8").slice(0, 4096)
  } catch {
    text = ""
  }
  if (
    text === "" &&
    exitCode !== 0 &&
    slot.spec.terminationMessagePolicy === "FallbackToLogsOnError" &&
    slot.currentLog !== undefined
  ) {
    try {
      const lines = readFileSync(slot.currentLog, "utf8").split("\n")
      if (lines.at(-1) === "") lines.pop()
      text = lines.slice(-80).join("\n").slice(-2048)
    } catch {
      text = ""
    }
  }
  return text === "" ? undefined : text
}

const formatDuration = (millis: number): string => {
  const seconds = millis / 1000
  if (seconds < 60) return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)}s`
  const minutes = Math.floor(seconds / 60)
  const rest = Math.round(seconds % 60)
  return rest === 0 ? `${minutes}m0s` : `${minutes}m${rest}s`
}
