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
import { cpuUsage, memoryUsage } from "node:process"
import type { KubeConfig } from "@kubernetes/client-node"
import { Cause, Clock, Context, Effect, Exit, Layer, Logger } from "effect"
import { makeClientNodeRaw } from "../kube/clientNode.ts"
import { fromRaw, KubeApi } from "../kube/KubeApi.ts"
import { loadKubeConfig } from "../kube/kubeConfig.ts"
import { runAsLeader } from "../kube/LeaderElection.ts"
import { runUntilSignalled } from "../platform/signals.ts"
import { backupReconciler } from "./backup/reconcile.ts"
import { type BackupGauge, backupGauges, backupSeries } from "./backupMetrics.ts"
import { type ArchivingGauge, archivingGauges, archivingSeries } from "./binlogArchiving/metrics.ts"
import { Caches } from "./Caches.ts"
import { clusterReconciler } from "./cluster/reconcile.ts"
import { Events } from "./Events.ts"
import { type ControllerConfig, InvalidControllerFlag } from "./flags.ts"
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
    for (const [flag, names] of [
      ["workers", Object.keys(config.workers)],
      ["controllers", config.controllers]
    ] as const) {
      const unknown = names.filter((name) => !reconcilers.some((r) => r.name === name))
      if (unknown.length > 0) {
        return yield* new InvalidControllerFlag({
          flag,
          detail: `no controller named ${unknown.join(", ")}; the controllers are ${reconcilers.map((r) => r.name).join(", ")}`
        })
      }
    }
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
    // one pass over the cached Backups serves every Backup gauge of a scrape (they are read one after another)
    const backupSeriesOfScrape = yield* Effect.cachedWithTTL(
      Effect.map(caches.backups.list(), backupSeries),
      "1 second"
    )
    for (const [name, help] of Object.entries(backupGauges) as ReadonlyArray<[BackupGauge, string]>) {
      yield* metrics.gauge(
        name,
        help,
        Effect.map(backupSeriesOfScrape, (series) => series[name])
      )
    }
    for (const [name, help] of Object.entries(archivingGauges) as ReadonlyArray<[ArchivingGauge, string]>) {
      yield* metrics.gauge(
        name,
        help,
        Effect.zipWith(
          caches.clusters.list(),
          Clock.currentTimeMillis,
          (clusters, now) => archivingSeries(clusters, now)[name]
        )
      )
    }
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
    const selected = reconcilers.filter(
      (reconciler) => config.controllers.length === 0 || config.controllers.includes(reconciler.name)
    )
    const all = selected.reduce<Layer.Layer<never, never, ControllerServices>>(
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

const jsonLogs = Logger.layer([Logger.consoleJson])

/**
 * Runs the controller-manager as the process's one job: JSON logs on stdout, SIGTERM/SIGINT stop it gracefully
 * (in-flight reconciles finish, the Lease is released). Resolves with the exit code: 0 after a signal, 1 when
 * it failed (no Kubernetes configuration, or leadership lost: the Deployment restarts it as a candidate).
 */
export const controllerProcess = (config: ControllerConfig): Promise<number> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const exit = yield* runUntilSignalled(runController(config))
      if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return 0
      yield* Effect.logError("controller failed", Cause.pretty(exit.cause))
      return 1
    }).pipe(Effect.provide(jsonLogs))
  )
