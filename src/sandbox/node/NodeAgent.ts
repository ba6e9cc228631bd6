/**
 * `NodeAgent`: the sandbox's one node (`sandbox` by default) — the scheduler's binding step and the kubelet —
 * running against the fake control plane in the same process. It registers a `Node`, watches every Pod and
 * Service, runs one pod worker (`podWorker.ts`) per Pod it is given, keeps every Pod's `/etc/hosts` in step
 * with Service endpoints and readiness, and serves container logs to the fake API server (`PodLogs`).
 *
 * Pod IPs come from a loopback block only this sandbox uses (`addresses.ts`); the node's own address
 * (`hostIP`) is 127.0.0.1. Containers run in their own PID, mount and UTS namespaces but share the host's
 * network: a Pod reaches another by its Pod IP or a hosts-file name, and must bind its Pod IP (or a port no
 * other Pod uses). Requests and limits are read (downward API) but not enforced.
 *
 * @since 0.1.0
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import { isAbsolute, join, relative } from "node:path"
import { Clock, Context, Data, Effect, Layer, Option, Schedule, Stream } from "effect"
import { metaV1Time } from "../../api/time.ts"
import { badRequest } from "../ApiStatus.ts"
import { FakeCluster, type StoreWatchEvent as WatchEvent } from "../FakeCluster.ts"
import { type PodLogOptions, PodLogs } from "../PodLogs.ts"
import { isRecord, type StoredObject } from "../StoredObject.ts"
import { type AddressBlockUnavailable, acquireAddressBlock } from "./addresses.ts"
import { type HostsPod, type HostsService, renderHosts } from "./hosts.ts"
import { imageAppPath } from "./images.ts"
import { readLog } from "./logs.ts"
import { decodePodSpec } from "./podSpec.ts"
import { type NodeContext, type PodWorker, type ServiceAccountTokenRequest, startPodWorker } from "./podWorker.ts"

/** The node cannot run here (it needs root for mount namespaces, and util-linux). */
export class NodeAgentUnavailable extends Data.TaggedError("NodeAgentUnavailable")<{ readonly message: string }> {}

const requiredTools = ["/usr/bin/unshare", "/usr/bin/nsenter", "/usr/bin/setpriv", "/usr/sbin/chroot", "/usr/bin/mount"]

/** Settings of the node agent. */
export interface NodeAgentOptions {
  /** Where Pods live (`<stateDir>/pods/<uid>`) and the image launchers are written. */
  readonly stateDir: string
  readonly nodeName?: string
  /** The loopback block `127.<block>.0.0/16` for Pod IPs (default: the first one no other sandbox holds). */
  readonly addressBlock?: number
  /** First crash-loop back-off (kubelet: 10 s) and its cap (kubelet: 300 s). */
  readonly backoffInitialMillis?: number
  readonly backoffCapMillis?: number
  /** How often a Pod waiting on a missing Secret, an unbound claim or an image looks again (default 2 s). */
  readonly retryMillis?: number
  /** Per container run log bound (default 10 MiB). */
  readonly logMaxBytes?: number
  /** PEM written as `ca.crt` into service-account volumes. */
  readonly caCertificate?: string
  /**
   * The token a Pod's service-account volume holds. Default: a placeholder naming the ServiceAccount and Pod,
   * enough for an API server without authentication; the sandbox with RBAC issues real ones.
   */
  readonly serviceAccountToken?: (
    request: ServiceAccountTokenRequest
  ) => Effect.Effect<string, { readonly message: string }>
  /** Where containers reach the API server (`KUBERNETES_SERVICE_HOST`/`_PORT`), when they can. */
  readonly apiServer?: { readonly host: string; readonly port: number }
  /** The Node 24 binary and the checkout whose `bin/cloudnative-mysql.js` the images run (default: this one). */
  readonly nodeBinary?: string
  readonly projectRoot?: string
  /** How long the containers get when the agent itself stops (default 10 s). */
  readonly shutdownGraceSeconds?: number
}

/** A running node agent. */
export interface NodeAgentService {
  readonly nodeName: string
  /** The loopback block of this node's Pod IPs. */
  readonly addressBlock: number
  /** The directory on every container's `PATH` holding `cloudnative-mysql` and `node`. */
  readonly binDir: string
}

export class NodeAgent extends Context.Service<NodeAgent, NodeAgentService>()("cnmysql/sandbox/NodeAgent") {
  /** The node agent over the `FakeCluster` in context; it also provides `PodLogs` for the API server. */
  static readonly layer = (
    options: NodeAgentOptions
  ): Layer.Layer<NodeAgent | PodLogs, AddressBlockUnavailable | NodeAgentUnavailable, FakeCluster> =>
    Layer.effectContext(
      Effect.map(startNodeAgent(options), ({ agent, logs }) =>
        Context.make(NodeAgent, agent).pipe(Context.add(PodLogs, logs))
      )
    )
}

const defaultProjectRoot = join(import.meta.dirname, "..", "..", "..")

/**
 * Writes the launchers the images' entrypoints resolve to on `PATH`. They name the checkout by its path inside
 * the container (`imageAppPath`), and Node too when it lives in the checkout (the project's own Node 24).
 */
const writeLaunchers = (binDir: string, hostNodeBinary: string, projectRoot: string): void => {
  mkdirSync(binDir, { recursive: true })
  chmodSync(binDir, 0o755)
  const inProject = relative(projectRoot, hostNodeBinary)
  const nodeBinary =
    inProject.startsWith("..") || isAbsolute(inProject) ? hostNodeBinary : join(imageAppPath, inProject)
  const launcher = join(binDir, "cloudnative-mysql")
  writeFileSync(launcher, `#!/bin/sh\nexec ${nodeBinary} ${join(imageAppPath, "bin", "cloudnative-mysql.js")} "$@"\n`)
  chmodSync(launcher, 0o755)
  const node = join(binDir, "node")
  writeFileSync(node, `#!/bin/sh\nexec ${nodeBinary} "$@"\n`)
  chmodSync(node, 0o755)
}

const labelsOf = (object: StoredObject): Record<string, string> =>
  (object.metadata.labels ?? {}) as Record<string, string>

const hostsPodOf = (pod: StoredObject): HostsPod => {
  const spec = isRecord(pod.spec) ? pod.spec : {}
  const status = isRecord(pod.status) ? pod.status : {}
  const conditions = Array.isArray(status.conditions) ? status.conditions : []
  const ready = conditions.some(
    (condition) => isRecord(condition) && condition.type === "Ready" && condition.status === "True"
  )
  const aliases = Array.isArray(spec.hostAliases) ? spec.hostAliases : []
  return {
    namespace: pod.metadata.namespace ?? "",
    name: pod.metadata.name ?? "",
    labels: labelsOf(pod),
    ip: typeof status.podIP === "string" && status.podIP !== "" ? status.podIP : undefined,
    ready: ready && pod.metadata.deletionTimestamp === undefined,
    hostname: typeof spec.hostname === "string" ? spec.hostname : undefined,
    subdomain: typeof spec.subdomain === "string" ? spec.subdomain : undefined,
    hostAliases: aliases.flatMap((alias) =>
      isRecord(alias) && typeof alias.ip === "string"
        ? [{ ip: alias.ip, hostnames: Array.isArray(alias.hostnames) ? alias.hostnames.map(String) : [] }]
        : []
    )
  }
}

const hostsServiceOf = (service: StoredObject): HostsService => {
  const spec = isRecord(service.spec) ? service.spec : {}
  return {
    namespace: service.metadata.namespace ?? "",
    name: service.metadata.name ?? "",
    selector: isRecord(spec.selector) ? (spec.selector as Record<string, string>) : undefined,
    headless: spec.clusterIP === "None",
    publishNotReadyAddresses: spec.publishNotReadyAddresses === true
  }
}

const podsRef = { group: "", version: "v1", plural: "pods" }
const servicesRef = { group: "", version: "v1", plural: "services" }
const nodesRef = { group: "", version: "v1", plural: "nodes" }

/** Starts the node agent in the current scope; its Pods' processes stop when the scope closes. */
export const startNodeAgent = (options: NodeAgentOptions) =>
  Effect.gen(function* () {
    if (process.getuid?.() !== 0) {
      return yield* new NodeAgentUnavailable({
        message: "the sandbox node runs containers in their own mount namespaces and needs root: run it as root"
      })
    }
    const missing = requiredTools.filter((tool) => !existsSync(tool))
    if (missing.length > 0) {
      return yield* new NodeAgentUnavailable({
        message: `the sandbox node needs ${missing.join(", ")}: apt-get install -y util-linux mount coreutils`
      })
    }
    const cluster = yield* FakeCluster
    const nodeName = options.nodeName ?? "sandbox"
    const block = yield* acquireAddressBlock(options.addressBlock)
    const binDir = join(options.stateDir, "image-bin")
    mkdirSync(join(options.stateDir, "pods"), { recursive: true })
    chmodSync(options.stateDir, 0o755)
    const projectRoot = options.projectRoot ?? defaultProjectRoot
    writeLaunchers(binDir, options.nodeBinary ?? process.execPath, projectRoot)
    const allocatable = { cpuCores: cpus().length, memoryBytes: totalmem(), ephemeralStorageBytes: 100 * 2 ** 30 }
    const hostIP = "127.0.0.1"

    const workers = new Map<string, PodWorker>()
    const podsByUid = new Map<string, StoredObject>()
    const services = new Map<string, StoredObject>()
    const hostsFiles = new Map<string, { readonly path: string; content: string }>()

    const rewriteHosts = Effect.sync(() => {
      const pods = [...podsByUid.values()].map(hostsPodOf)
      const serviceList = [...services.values()].map(hostsServiceOf)
      for (const [uid, file] of hostsFiles) {
        const self = podsByUid.get(uid)
        if (self === undefined) continue
        const content = renderHosts(hostsPodOf(self), pods, serviceList)
        if (content === file.content) continue
        // rewritten in place: the file is bind-mounted, a rename would leave containers with the old inode
        writeFileSync(file.path, content)
        file.content = content
      }
    })

    const context: NodeContext = {
      cluster,
      nodeName,
      hostIP,
      stateDir: options.stateDir,
      binDir,
      projectRoot,
      allocatable,
      backoffInitialMillis: options.backoffInitialMillis ?? 10_000,
      backoffCapMillis: options.backoffCapMillis ?? 300_000,
      retryMillis: options.retryMillis ?? 2_000,
      logMaxBytes: options.logMaxBytes ?? 10 * 2 ** 20,
      caCertificate: options.caCertificate ?? "",
      serviceAccountToken:
        options.serviceAccountToken ??
        ((request) =>
          Effect.succeed(`sandbox-token:${request.namespace}:${request.serviceAccount}:${request.pod.uid}`)),
      apiServiceEnv:
        options.apiServer === undefined
          ? {}
          : {
              KUBERNETES_SERVICE_HOST: options.apiServer.host,
              KUBERNETES_SERVICE_PORT: String(options.apiServer.port),
              KUBERNETES_SERVICE_PORT_HTTPS: String(options.apiServer.port),
              KUBERNETES_PORT: `tcp://${options.apiServer.host}:${options.apiServer.port}`
            },
      allocateIP: block.allocate,
      releaseIP: block.release,
      registerHosts: (uid, path) =>
        Effect.andThen(
          Effect.sync(() => hostsFiles.set(uid, { path, content: "" })),
          rewriteHosts
        ),
      unregisterHosts: (uid) => Effect.sync(() => hostsFiles.delete(uid))
    }

    yield* registerNode(nodeName, hostIP, allocatable)

    const onPod = (event: WatchEvent) =>
      Effect.gen(function* () {
        const pod = event.object
        const uid = pod.metadata.uid ?? ""
        const spec = isRecord(pod.spec) ? pod.spec : {}
        const assigned = typeof spec.nodeName === "string" && spec.nodeName !== "" ? spec.nodeName : undefined
        if (assigned !== undefined && assigned !== nodeName) return
        if (event.type === "DELETED") {
          podsByUid.delete(uid)
          yield* rewriteHosts
          const worker = workers.get(uid)
          if (worker !== undefined) yield* worker.update(undefined)
          return
        }
        podsByUid.set(uid, pod)
        yield* rewriteHosts
        const worker = workers.get(uid)
        if (worker !== undefined) return yield* worker.update(pod)
        const phase = isRecord(pod.status) ? pod.status.phase : undefined
        if (phase === "Succeeded" || phase === "Failed") return
        if (pod.metadata.deletionTimestamp !== undefined) {
          // never started here: nothing to stop
          yield* Effect.ignore(
            cluster.delete({ ...podsRef, namespace: pod.metadata.namespace }, pod.metadata.name ?? "", {
              gracePeriodSeconds: 0,
              preconditions: { uid }
            })
          )
          return
        }
        const decoded = yield* Effect.option(decodePodSpec(pod.spec))
        if (Option.isNone(decoded)) {
          yield* Effect.logWarning(
            `sandbox node: Pod ${pod.metadata.namespace}/${pod.metadata.name} has a spec it cannot read`
          )
          return
        }
        const started = yield* startPodWorker(context, pod, decoded.value)
        workers.set(uid, started)
        yield* Effect.forkDetach(
          Effect.andThen(
            started.done,
            Effect.sync(() => {
              workers.delete(uid)
            })
          )
        )
      })

    const onService = (event: WatchEvent) =>
      Effect.gen(function* () {
        const key = `${event.object.metadata.namespace}/${event.object.metadata.name}`
        if (event.type === "DELETED") services.delete(key)
        else services.set(key, event.object)
        yield* rewriteHosts
      })

    // a watch that ends (API restart, dropped watches) starts again; the agent handles replayed ADDEDs
    const follow = (ref: typeof podsRef, handler: (event: WatchEvent) => Effect.Effect<void>) =>
      Stream.runForEach(cluster.watch(ref), handler).pipe(
        Effect.ignore,
        Effect.repeat(Schedule.spaced("200 millis")),
        Effect.forkScoped
      )
    yield* follow(servicesRef, onService)
    yield* follow(podsRef, onPod)

    const shutdownGrace = options.shutdownGraceSeconds ?? 10
    yield* Effect.addFinalizer(() =>
      Effect.all(
        [...workers.values()].map((worker) => worker.shutdown(shutdownGrace)),
        { concurrency: "unbounded", discard: true }
      )
    )

    const logs = PodLogs.of({
      read: (pod, query) => readPodLog(workers, pod, query)
    })
    return { agent: NodeAgent.of({ nodeName, addressBlock: block.block, binDir }), logs }
  })

const registerNode = (
  nodeName: string,
  hostIP: string,
  allocatable: { readonly cpuCores: number; readonly memoryBytes: number }
) =>
  Effect.gen(function* () {
    const cluster = yield* FakeCluster
    const now = metaV1Time(yield* Clock.currentTimeMillis)
    const capacity = {
      cpu: String(allocatable.cpuCores),
      memory: `${Math.floor(allocatable.memoryBytes / 1024)}Ki`,
      pods: "110",
      "ephemeral-storage": "100Gi"
    }
    const existing = yield* Effect.option(cluster.get(nodesRef, nodeName))
    if (Option.isNone(existing)) {
      yield* Effect.orDie(
        cluster.create(nodesRef, {
          metadata: {
            name: nodeName,
            labels: {
              "kubernetes.io/hostname": nodeName,
              "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64",
              "node-role.kubernetes.io/control-plane": ""
            }
          },
          spec: {}
        })
      )
    }
    const osRelease = (() => {
      try {
        return /PRETTY_NAME="([^"]+)"/u.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "Linux"
      } catch {
        return "Linux"
      }
    })()
    yield* Effect.orDie(
      cluster.statusMergePatch(nodesRef, nodeName, {
        status: {
          capacity,
          allocatable: capacity,
          addresses: [
            { type: "InternalIP", address: hostIP },
            { type: "Hostname", address: nodeName }
          ],
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "KubeletReady",
              message: "kubelet is posting ready status",
              lastHeartbeatTime: now,
              lastTransitionTime: now
            }
          ],
          nodeInfo: {
            kubeletVersion: "v1.32.0-sandbox",
            containerRuntimeVersion: "sandbox://unshare",
            osImage: osRelease,
            operatingSystem: "linux",
            architecture: "amd64"
          }
        }
      })
    )
  })

/** `pods/log` as the kubelet answers it. */
const readPodLog = (workers: ReadonlyMap<string, PodWorker>, pod: StoredObject, query: PodLogOptions) =>
  Effect.gen(function* () {
    const name = pod.metadata.name ?? ""
    const spec = isRecord(pod.spec) ? pod.spec : {}
    const names = (list: unknown) =>
      Array.isArray(list)
        ? list.flatMap((item) => (isRecord(item) && typeof item.name === "string" ? [item.name] : []))
        : []
    const containers = names(spec.containers)
    const initContainers = names(spec.initContainers)
    let container = query.container
    if (container === undefined || container === "") {
      if (containers.length !== 1) {
        return yield* badRequest(
          `a container name must be specified for pod ${name}, choose one of: [${containers.join(" ")}]${initContainers.length > 0 ? ` or one of the init containers: [${initContainers.join(" ")}]` : ""}`
        )
      }
      container = containers[0] ?? ""
    }
    if (!containers.includes(container) && !initContainers.includes(container)) {
      return yield* badRequest(`container ${container} is not valid for pod ${name}`)
    }
    const worker = workers.get(pod.metadata.uid ?? "")
    const state = worker?.logState(container)
    if (state === undefined) {
      return yield* badRequest(`container "${container}" in pod "${name}" is waiting to start: ContainerCreating`)
    }
    if (query.previous) {
      if (state.previous === undefined) {
        return yield* badRequest(`previous terminated container "${container}" in pod "${name}" not found`)
      }
      return readLog(state.previous, { tailLines: query.tailLines, limitBytes: query.limitBytes, follow: undefined })
    }
    if (state.current === undefined) {
      const reason = state.waiting ?? "ContainerCreating"
      return yield* badRequest(
        `container "${container}" in pod "${name}" is waiting to start: ${reason === "ErrImagePull" || reason === "ImagePullBackOff" ? "trying and failing to pull image" : reason}`
      )
    }
    const current = state.current
    const follow = query.follow
      ? Effect.sync(() => {
          const now = worker?.logState(container)
          return now === undefined || now.current !== current || !now.running
        })
      : undefined
    return readLog(current, { tailLines: query.tailLines, limitBytes: query.limitBytes, follow })
  })
