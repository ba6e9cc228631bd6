/**
 * The flags of `cloudnative-mysql controller` (each with an environment fallback, named in `--help`) and the
 * settings they give. Kept apart from `main.ts` so the command line can describe the subcommand without loading
 * the controllers.
 *
 * @since 0.1.0
 */
import { hostname } from "node:os"
import { Config, Effect, Option, Random, Schema } from "effect"
import { Flag } from "effect/cli"

/**
 * `host:port`; an empty host means every interface. An IPv6 host may come without brackets (`fd00::1:8080`): the
 * Deployment passes `$(POD_IP):8080`, and the kubelet cannot bracket the Pod IP; the port is after the last colon.
 */
export const Address = Schema.String.check(
  Schema.isPattern(/^(\[[0-9a-fA-F:.]+\]|[0-9a-fA-F]*:[0-9a-fA-F:.]*|[A-Za-z0-9.-]*):\d{1,5}$/u)
).annotate({
  description: "host:port, e.g. :8080, 127.0.0.1:0 or [fd00::1]:8080"
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
  /** The controllers to run; empty means all. */
  readonly controllers: ReadonlyArray<string>
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
    "concurrent reconciles per controller, e.g. backup=16,scheduled-backup=1 (each controller has its own default)"
  ),
  controllers: textWithDefault(
    "controllers",
    "CONTROLLERS",
    "",
    "comma-separated controllers to run, e.g. backup,scheduled-backup (default: all)"
  ),
  logLevel: Flag.Literals("log-level", ["Debug", "Info", "Warn", "Error"]).pipe(
    Flag.withDescription("minimum level of the JSON log lines (LOG_LEVEL, default Info)"),
    Flag.withFallbackConfig(
      Config.Literals(["Debug", "Info", "Warn", "Error"], "LOG_LEVEL").pipe(Config.withDefault("Info" as const))
    )
  )
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

/** `name=count,…`; the names are checked against the registered controllers when the process starts. */
const parseWorkers = (text: string): Effect.Effect<Record<string, number>, InvalidControllerFlag> =>
  Effect.gen(function* () {
    const workers: Record<string, number> = {}
    for (const entry of list(text)) {
      const [name, count] = entry.split("=")
      const n = Number(count)
      if (name === undefined || !/^[a-z][a-z-]*$/u.test(name) || !Number.isInteger(n) || n < 1) {
        return yield* new InvalidControllerFlag({
          flag: "workers",
          detail: `"${entry}" is not <controller>=<count ≥ 1>`
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
  readonly controllers: string
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
    workers: yield* parseWorkers(flags.workers),
    controllers: list(flags.controllers)
  } satisfies ControllerConfig
})
