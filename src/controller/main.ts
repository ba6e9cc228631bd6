/**
 * `cloudnative-mysql controller`: the controller-manager process (DESIGN.md §3).
 *
 * - Kubernetes credentials: `KUBECONFIG`, the in-cluster service account, or `~/.kube/config` (`--kubeconfig`
 *   and `--context` override), failing fast when there are none.
 * - Shared caches (one reflector per watched kind and namespace) start at once on every replica, so a standby is
 *   warm when it takes over; only the replica holding the Lease runs the reconcilers (`--leader-elect`, on by
 *   default; a second replica waits).
 * - `/healthz` (the process serves), `/readyz` (caches synced and leadership known: leading, or following a
 *   named holder) on the probe address; `/metrics` in Prometheus text format on the metrics address.
 * - JSON log lines on stdout; SIGTERM stops taking work, lets in-flight reconciles finish, releases the Lease.
 *
 * Every flag has an environment fallback (in parentheses in `--help`), so the Deployment can set either.
 * Registering a reconciler is one line in `reconcilers` below.
 *
 * @since 0.1.0
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { hostname } from "node:os"
import { cpuUsage, memoryUsage } from "node:process"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import type { KubeConfig } from "@kubernetes/client-node"
import { Cause, Config, Context, Effect, Exit, Layer, Logger, Option, Random, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { makeClientNodeRaw } from "../kube/clientNode.ts"
import { fromRaw, KubeApi } from "../kube/KubeApi.ts"
import { loadKubeConfig } from "../kube/kubeConfig.ts"
import { runAsLeader } from "../kube/LeaderElection.ts"
import { backupReconciler } from "./backup/reconcile.ts"
import { Caches } from "./Caches.ts"
import { clusterReconciler } from "./cluster/reconcile.ts"
import { Events } from "./Events.ts"
import { Metrics } from "./Metrics.ts"
import { scheduledBackupReconciler } from "./scheduledBackup/reconcile.ts"

/** The services every reconciler layer may use. */
export type ControllerServices = Caches | Events | KubeApi | Metrics

/** A reconciler the process runs: its name (for `--workers name=n`) and its layer for a worker count. */
export interface Reconciler {
  readonly name: string
  readonly defaultWorkers: number
  readonly layer: (workers: number) => Layer.Layer<never, never, ControllerServices>
}

/** The reconcilers of this process: registering one is one line. */
export const reconcilers: ReadonlyArray<Reconciler> = [backupReconciler, scheduledBackupReconciler, clusterReconciler]

/** `host:port`; an empty host means every interface. */
export const Address = Schema.String.check(Schema.isPattern(/^(\[[0-9a-fA-F:]+\]|[^\s:]*):\d{1,5}$/u)).annotate({
  description: "host:port, e.g. :8080 or 127.0.0.1:0"
})

/** The process's settings (flags, with environment fallbacks). */
export interface ControllerConfig {
  readonly kubeconfig: string | undefined
  readonly context: string | undefined
  /** Namespaces to watch; empty means all. */
  readonly namespaces: ReadonlyArray<string>
  readonly metricsAddress: string
  readonly probeAddress: string
  readonly leaderElect: boolean
  readonly leaderElectionNamespace: string
  readonly leaderElectionId: string
  readonly identity: string
  readonly workers: Readonly<Record<string, number>>
}

const list = (text: string): ReadonlyArray<string> =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)

const optionalText = (name: string, env: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withDescription(`${description} (${env})`),
    Flag.withFallbackConfig(Config.String(env)),
    Flag.optional
  )

const textWithDefault = (name: string, env: string, fallback: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withDescription(`${description} (${env}, default ${fallback === "" ? "empty" : fallback})`),
    Flag.withFallbackConfig(Config.String(env).pipe(Config.withDefault(fallback)))
  )

/** The flags of `cloudnative-mysql controller`. */
export const controllerFlags = {
  kubeconfig: optionalText("kubeconfig", "KUBECONFIG", "kubeconfig file; default: in-cluster, then ~/.kube/config"),
  context: optionalText("context", "KUBE_CONTEXT", "kubeconfig context to use"),
  namespaces: textWithDefault(
    "namespaces",
    "WATCH_NAMESPACES",
    "",
    "comma-separated namespaces to watch; empty watches all namespaces"
  ),
  metricsAddress: textWithDefault("metrics-address", "METRICS_ADDRESS", ":8080", "where /metrics listens"),
  probeAddress: textWithDefault("probe-address", "PROBE_ADDRESS", ":8081", "where /healthz and /readyz listen"),
  leaderElect: Flag.Boolean("leader-elect").pipe(
    Flag.withDescription("hold a Lease so that only one replica reconciles (LEADER_ELECT, default true)"),
    Flag.withFallbackConfig(Config.Boolean("LEADER_ELECT").pipe(Config.withDefault(true)))
  ),
  leaderElectionNamespace: textWithDefault(
    "leader-election-namespace",
    "POD_NAMESPACE",
    "cloudnative-mysql-system",
    "namespace of the leader-election Lease"
  ),
  leaderElectionId: textWithDefault(
    "leader-election-id",
    "LEADER_ELECTION_ID",
    "cloudnative-mysql-controller",
    "name of the leader-election Lease"
  ),
  workers: textWithDefault(
    "workers",
    "RECONCILE_WORKERS",
    "",
    `concurrent reconciles per controller, e.g. backup=4,scheduled-backup=1 (defaults: ${reconcilerDefaults()})`
  ),
  logLevel: Flag.Literals("log-level", ["Debug", "Info", "Warn", "Error"]).pipe(
    Flag.withDescription("minimum level of the JSON log lines (LOG_LEVEL, default Info)"),
    Flag.withFallbackConfig(
      Config.Literals(["Debug", "Info", "Warn", "Error"], "LOG_LEVEL").pipe(Config.withDefault("Info" as const))
    )
  )
}

function reconcilerDefaults(): string {
  return reconcilers.length === 0
    ? "none registered"
    : reconcilers.map((r) => `${r.name}=${r.defaultWorkers}`).join(",")
}

/** Thrown into the typed channel when a flag's value is malformed. */
export class InvalidControllerFlag extends Schema.TaggedError<InvalidControllerFlag>()("InvalidControllerFlag", {
  flag: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `--${this.flag}: ${this.detail}`
  }
}

const parseWorkers = (text: string): Effect.Effect<Record<string, number>, InvalidControllerFlag> =>
  Effect.gen(function* () {
    const workers: Record<string, number> = {}
    for (const entry of list(text)) {
      const [name, count] = entry.split("=")
      const n = Number(count)
      if (name === undefined || !reconcilers.some((r) => r.name === name) || !Number.isInteger(n) || n < 1) {
        return yield* new InvalidControllerFlag({
          flag: "workers",
          detail: `"${entry}" is not <controller>=<count ≥ 1> with a controller of ${reconcilers.map((r) => r.name).join(", ")}`
        })
      }
      workers[name] = n
    }
    return workers
  })

const checkAddress = (flag: string, address: string) =>
  Schema.is(Address)(address)
    ? Effect.void
    : Effect.fail(new InvalidControllerFlag({ flag, detail: `"${address}" is not host:port` }))

/** The settings from parsed flags. */
export const toConfig = Effect.fnUntraced(function* (flags: {
  readonly kubeconfig: Option.Option<string>
  readonly context: Option.Option<string>
  readonly namespaces: string
  readonly metricsAddress: string
  readonly probeAddress: string
  readonly leaderElect: boolean
  readonly leaderElectionNamespace: string
  readonly leaderElectionId: string
  readonly workers: string
}) {
  yield* checkAddress("metrics-address", flags.metricsAddress)
  yield* checkAddress("probe-address", flags.probeAddress)
  const suffix = (yield* Random.nextInt).toString(36).replace("-", "").slice(0, 6)
  return {
    kubeconfig: Option.getOrUndefined(flags.kubeconfig),
    context: Option.getOrUndefined(flags.context),
    namespaces: list(flags.namespaces),
    metricsAddress: flags.metricsAddress,
    probeAddress: flags.probeAddress,
    leaderElect: flags.leaderElect,
    leaderElectionNamespace: flags.leaderElectionNamespace,
    leaderElectionId: flags.leaderElectionId,
    identity: `${process.env.POD_NAME ?? hostname()}_${suffix}`,
    workers: yield* parseWorkers(flags.workers)
  } satisfies ControllerConfig
})

const splitAddress = (address: string): { readonly host: string | undefined; readonly port: number } => {
  const colon = address.lastIndexOf(":")
  const host = address.slice(0, colon).replace(/^\[|\]$/gu, "")
  return { host: host === "" ? undefined : host, port: Number(address.slice(colon + 1)) }
}

type Handler = (
  request: IncomingMessage
) => Effect.Effect<{ readonly code: number; readonly type: string; readonly body: string }>

/** Serves `routes` on `address` for the scope's lifetime; logs the bound address (port 0 picks one). */
const serve = (what: string, address: string, routes: Readonly<Record<string, Handler>>) =>
  Effect.gen(function* () {
    const context = yield* Effect.context<never>()
    const { host, port } = splitAddress(address)
    const server = yield* Effect.acquireRelease(
      Effect.callback<Server, InvalidControllerFlag>((resume) => {
        const s = createServer((request: IncomingMessage, response: ServerResponse) => {
          const path = (request.url ?? "/").split("?")[0] ?? "/"
          const route = routes[path]
          if (route === undefined) {
            response.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
            return
          }
          Effect.runForkWith(context)(
            Effect.map(route(request), ({ code, type, body }) => {
              response.writeHead(code, { "content-type": type }).end(body)
            })
          )
        })
        s.once("error", (error) =>
          resume(Effect.fail(new InvalidControllerFlag({ flag: `${what}-address`, detail: error.message })))
        )
        s.listen(port, host, () => {
          resume(Effect.succeed(s))
        })
      }),
      (s) =>
        Effect.callback<void>((resume) => {
          s.close(() => resume(Effect.void))
          // keep-alive connections (Prometheus scrapers) would hold close() open until they idle out
          s.closeAllConnections()
        })
    )
    const bound = server.address() as AddressInfo
    yield* Effect.logInfo("listening", { server: what, address: `${bound.address}:${bound.port}` })
    return bound
  })

const text = (code: number, body: string) => ({ code, type: "text/plain; charset=utf-8", body })

/** The kubeconfig the settings name (explicit file and context, or the default search). */
const kubeConfigFor = (config: ControllerConfig): Effect.Effect<KubeConfig, Error> =>
  Effect.gen(function* () {
    const kc = yield* loadKubeConfig(
      config.kubeconfig === undefined ? {} : { env: { ...process.env, KUBECONFIG: config.kubeconfig } }
    )
    if (config.context !== undefined) {
      const context = config.context
      yield* Effect.try({
        try: () => kc.setCurrentContext(context),
        catch: () => new InvalidControllerFlag({ flag: "context", detail: `no context "${context}" in the kubeconfig` })
      })
      if (kc.getContextObject(context) === null) {
        return yield* new InvalidControllerFlag({
          flag: "context",
          detail: `no context "${context}" in the kubeconfig`
        })
      }
    }
    return kc
  })

/** Runs the controller-manager until interrupted (SIGTERM) or until leadership is lost. */
export const runController = (config: ControllerConfig) =>
  Effect.gen(function* () {
    const kc = yield* kubeConfigFor(config)
    const api = KubeApi.of(fromRaw(makeClientNodeRaw(kc)))
    const metrics = yield* Metrics
    let leading = !config.leaderElect
    let following = false

    const services = yield* Layer.build(
      Layer.mergeAll(
        Caches.layer({ namespaces: config.namespaces }),
        Events.layer({ component: "cloudnative-mysql-controller", host: config.identity })
      ).pipe(Layer.provideMerge(Layer.succeed(KubeApi, api)))
    )
    const caches = Context.get(services, Caches)

    yield* metrics.gauge(
      "leader_election_master_status",
      "1 while this replica holds the Lease",
      Effect.sync(() => [[{ name: config.leaderElectionId }, leading ? 1 : 0]])
    )
    yield* metrics.gauge(
      "controller_cached_objects",
      "Objects in the shared caches, by kind",
      Effect.map(caches.sizes, (sizes) => Object.entries(sizes).map(([kind, n]) => [{ kind }, n] as const))
    )
    yield* metrics.gauge(
      "nodejs_heap_used_bytes",
      "V8 heap in use (live objects plus garbage not yet collected)",
      Effect.sync(() => [[{}, memoryUsage().heapUsed]])
    )
    yield* metrics.gauge(
      "process_resident_memory_bytes",
      "Resident memory",
      Effect.sync(() => [[{}, memoryUsage.rss()]])
    )
    yield* metrics.gauge(
      "process_cpu_seconds_total",
      "User and system CPU time",
      Effect.sync(() => {
        const usage = cpuUsage()
        return [[{}, (usage.user + usage.system) / 1e6]]
      })
    )

    yield* serve("metrics", config.metricsAddress, {
      "/metrics": () =>
        Effect.map(metrics.render, (body) => ({ code: 200, type: "text/plain; version=0.0.4; charset=utf-8", body }))
    })
    yield* serve("probe", config.probeAddress, {
      "/healthz": () => Effect.succeed(text(200, "ok\n")),
      "/readyz": () =>
        Effect.map(caches.isSynced, (synced) =>
          !synced
            ? text(503, "caches not synced\n")
            : leading || following
              ? text(200, "ok\n")
              : text(503, "leadership not known yet\n")
        )
    })

    const workers = (reconciler: Reconciler) => config.workers[reconciler.name] ?? reconciler.defaultWorkers
    const all = reconcilers.reduce<Layer.Layer<never, never, ControllerServices>>(
      (layers, reconciler) => Layer.merge(layers, reconciler.layer(workers(reconciler))),
      Layer.empty
    )
    const running = Layer.launch(all).pipe(Effect.provide(services))
    yield* caches.synced
    yield* Effect.logInfo("caches synced")
    if (!config.leaderElect) return yield* running
    return yield* runAsLeader(
      {
        namespace: config.leaderElectionNamespace,
        name: config.leaderElectionId,
        identity: config.identity,
        onStandby: (holder) =>
          Effect.suspend(() => {
            if (following) return Effect.void
            following = true
            return Effect.logInfo("waiting for leadership", { holder })
          })
      },
      Effect.andThen(
        Effect.sync(() => {
          leading = true
          following = false
        }),
        running
      )
    ).pipe(Effect.provideService(KubeApi, api))
  }).pipe(Effect.scoped, Effect.provide(Metrics.layer))

// the level comes from effect/cli's global --log-level flag (default Info)
const jsonLogs = Logger.layer([Logger.consoleJson])

/** The `controller` command (effect/cli). */
export const controllerCommand = Command.make("controller", controllerFlags, (flags) =>
  Effect.gen(function* () {
    const config = yield* toConfig(flags)
    yield* runController(config).pipe(
      Effect.tapCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError("controller failed", Cause.pretty(cause))
      ),
      Effect.provide(jsonLogs)
    )
  })
).pipe(Command.withDescription("Run the operator's controller-manager (reconciles Backups and ScheduledBackups)"))

/**
 * Entry point for the CLI: handles SIGTERM/SIGINT (graceful shutdown) and resolves with the exit code: 0 after
 * `--help` or a signal, 1 when the controller failed (including lost leadership: the Deployment restarts it as a
 * candidate).
 */
export const controllerMain = (argv: ReadonlyArray<string>): Promise<number> =>
  new Promise((resolve) => {
    NodeRuntime.runMain(
      Command.runWith(controllerCommand, { version: "0.1.0" })(argv).pipe(
        Effect.provide(NodeServices.layer),
        Effect.provide(jsonLogs)
      ),
      {
        disableErrorReporting: true,
        teardown: (exit) => resolve(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
      }
    )
  })
