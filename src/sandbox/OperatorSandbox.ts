/**
 * `OperatorSandbox`: the sandbox (`Sandbox.layer`, Ceph RGW by default) with the operator's real controller
 * running against it — what the end-to-end suite, `npm run demo` and `bench:e2e` share. The controller runs
 * one of two ways (`operator`):
 *
 * - `process` (default): a child process on the host with the sandbox admin's kubeconfig — quick to start, its
 *   flags (`leaderElect`, `logLevel`) as asked, its log echoed on request;
 * - `pod`: installed as a user installs it, `kubectl apply -k deploy/default` (or the `kustomization` given)
 *   against the sandbox with RBAC on: the Deployment's Pod runs the operator image with its ServiceAccount's
 *   token, the API server's CA and `KUBERNETES_SERVICE_HOST`/`PORT` (the in-cluster configuration over HTTPS),
 *   with exactly the permissions its roles grant; the harness waits until the Deployment is available, the Pod
 *   holds the leader-election Lease and its caches synced. `denials` then lists what the API server refused.
 *
 * What it offers (all on the `OperatorSandbox` service; every failure is an {@link OperatorSandboxError} whose
 * message says what was awaited and, on a timeout, carries `kubectl describe` of the objects named and the tail
 * of the controller's log):
 *
 * - `sandbox`: the running sandbox (kubeconfig, object store endpoint and keys, state dir);
 * - `controller`: the controller — as a process (`cloudnative-mysql controller`, Node 24, `--leader-elect` as
 *   asked, metrics and probe listeners on `127.0.0.1:0`; its whole log also goes to `<dir>/controller.log`) or as
 *   the operator Pod (its log is the Pod's, `kubectl logs`; the node keeps it under the state dir) — its PID (a
 *   process only), `logTail(n)`, `restart` (SIGTERM and a fresh process; the Pod deleted and its replacement
 *   leading);
 * - `denials`: every request the API server refused with 403 Forbidden (RBAC on, so `pod` only; any identity);
 * - `kubectl(args, stdin?)` (never fails: code/stdout/stderr), `kubectlOk` (fails on a non-zero exit),
 *   `apply(...manifests)` (objects or YAML/JSON text), `get(kind, name)` / `list(kind, selector?)` as JSON,
 *   `remove(kind, name)`, `describe(kind, name)`;
 * - `waitFor(what, check, options)`: polls `check` until it returns a value (not `undefined`), failing after the
 *   timeout with the diagnostics of `options.describe`; `waitForCluster(name, predicate, …)` and
 *   `waitForPhase(name, phase, …)` are the Cluster-shaped cases, `waitForBackup(name, phase)` the Backup's;
 * - `sql(pod)`: a `SqlClient` (query, exec, checksums of every user table, `@@gtid_binlog_pos`, sample data) on
 *   the instance's server, as root with the password from the Cluster's credentials Secret, through the
 *   server's socket in the Pod's `run` volume on the host (`kubectl exec` does not exist in the sandbox);
 * - `plugin(args)`: `kubectl cloudnative-mysql …` (`bin/kubectl-cloudnative_mysql`) against the sandbox.
 *
 * Everything is stopped when the scope closes: the controller process by PID (SIGTERM, SIGKILL after 10 s), then
 * the sandbox (its Pods — the operator's among them —, RGW, the state directory unless `keep`).
 *
 * @since 0.1.0
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { createWriteStream, mkdirSync, mkdtempSync, type WriteStream, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Context, Data, Duration, Effect, Layer, type Scope } from "effect"
import { ApiVersion } from "../api/common.ts"
import { instanceImage } from "../api/images.ts"
import { operatorLabels, operatorNames, operatorNamespace } from "../api/install.ts"
import { labels, secretNames } from "../api/names.ts"
import { hasExited, stopChild } from "../platform/childProcess.ts"
import type { Denial } from "./apiAccess.ts"
import { isReady, selectorString } from "./controllers/informer.ts"
import { FakeApiServer } from "./FakeApiServer.ts"
import { type SqlClient, sqlClient } from "./mariadb.ts"
import { executable } from "./processes.ts"
import { Sandbox, type SandboxOptions, type SandboxService, sandboxCredentialsSecret } from "./Sandbox.ts"

/** Something the harness waited for or ran did not happen; `message` says what, with diagnostics. */
export class OperatorSandboxError extends Data.TaggedError("OperatorSandboxError")<{ readonly message: string }> {}

/** A kubectl (or plugin) run. */
export interface CommandRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Any Kubernetes object as JSON (tests read arbitrary status fields). */
// biome-ignore lint/suspicious/noExplicitAny: status fields of arbitrary kinds
export type Json = any

/** How the controller runs: a host child process, or the operator Pod of its Deployment. */
export type OperatorMode = "process" | "pod"

/** The running controller. */
export interface Controller {
  readonly mode: OperatorMode
  /** The child process's PID; `undefined` for the Pod (the node agent runs it). */
  readonly pid: () => number | undefined
  /** The last `lines` lines of its log (stdout and stderr; the current operator Pod's `kubectl logs`). */
  readonly logTail: (lines?: number) => Effect.Effect<string>
  /**
   * A process: stops it (SIGTERM, SIGKILL after 10 s) and starts a new one with the same flags. The Pod: deletes
   * it and waits until the Deployment's replacement holds the Lease with its caches synced.
   */
  readonly restart: Effect.Effect<void, OperatorSandboxError>
}

/** What a wait prints when it times out. */
export interface WaitOptions {
  readonly timeout?: Duration.Input
  /** Objects (`[kind, name]`) whose `kubectl describe` the failure message carries. */
  readonly describe?: ReadonlyArray<readonly [string, string]>
}

export interface OperatorSandboxService {
  readonly sandbox: SandboxService
  /** The namespace everything goes to (`default`, where the sandbox's S3 Secret lives). */
  readonly namespace: string
  /** A directory for the caller's files (removed with the sandbox unless `keep`). */
  readonly dir: string
  readonly controller: Controller
  /** What the API server refused (403) so far, oldest first: empty unless RBAC is on (`operator: "pod"`). */
  readonly denials: Effect.Effect<ReadonlyArray<Denial>>
  readonly kubectl: (args: ReadonlyArray<string>, stdin?: string) => Effect.Effect<CommandRun>
  readonly kubectlOk: (args: ReadonlyArray<string>, stdin?: string) => Effect.Effect<string, OperatorSandboxError>
  /** `kubectl apply -f -` of objects or manifest text. */
  readonly apply: (...manifests: ReadonlyArray<unknown>) => Effect.Effect<void, OperatorSandboxError>
  /** The object, or `undefined` when it does not exist. */
  readonly get: (kind: string, name: string) => Effect.Effect<Json | undefined, OperatorSandboxError>
  readonly list: (kind: string, selector?: string) => Effect.Effect<ReadonlyArray<Json>, OperatorSandboxError>
  /** `kubectl delete --wait` (grace as the object says). */
  readonly remove: (kind: string, name: string) => Effect.Effect<void, OperatorSandboxError>
  readonly describe: (kind: string, name: string) => Effect.Effect<string>
  readonly waitFor: <A, E, R>(
    what: string,
    check: Effect.Effect<A | undefined, E, R>,
    options?: WaitOptions
  ) => Effect.Effect<A, OperatorSandboxError | E, R>
  /** The Cluster once `predicate` holds for it. */
  readonly waitForCluster: (
    name: string,
    what: string,
    predicate: (cluster: Json) => boolean,
    options?: WaitOptions
  ) => Effect.Effect<Json, OperatorSandboxError>
  /** The Cluster once its `status.phase` is `phase` and the status describes the current generation. */
  readonly waitForPhase: (
    name: string,
    phase: string,
    options?: WaitOptions
  ) => Effect.Effect<Json, OperatorSandboxError>
  /** The Backup once its `status.phase` is `phase` (fails early when it is `failed` and `phase` is not). */
  readonly waitForBackup: (
    name: string,
    phase: string,
    options?: WaitOptions
  ) => Effect.Effect<Json, OperatorSandboxError>
  /** SQL on the server of instance Pod `pod`, as root. */
  readonly sql: (pod: string) => Effect.Effect<SqlClient, OperatorSandboxError>
  /** `kubectl cloudnative-mysql <args>` against the sandbox; `echo` also streams its stdout to this process's. */
  readonly plugin: (args: ReadonlyArray<string>, options?: { readonly echo?: boolean }) => Effect.Effect<CommandRun>
}

export interface OperatorSandboxOptions {
  /** Sandbox settings; default RGW as the object store and a fast crash-loop back-off (`pod`: RBAC on). */
  readonly sandbox?: SandboxOptions
  /** Default `process`. */
  readonly operator?: OperatorMode
  /** `pod`: the kustomization directory `kubectl apply -k` installs (default `deploy/default`). */
  readonly kustomization?: string
  /** `process`: default `false` (one replica); the Pod runs with its Deployment's flags (leader election on). */
  readonly leaderElect?: boolean
  /** `process`: default `Info`. */
  readonly logLevel?: "Debug" | "Info" | "Warn" | "Error"
  /** `process`: echo every controller log line to this process's stderr (for debugging a run). */
  readonly echoControllerLog?: boolean
}

const projectRoot = join(import.meta.dirname, "..", "..")
const pluginLauncher = join(projectRoot, "bin", "kubectl-cloudnative_mysql")

/** An {@link OperatorSandboxError} with `message`. */
const failure = (message: string) => new OperatorSandboxError({ message })

/** Runs `command` with the sandbox's kubeconfig and a private HOME (kubectl's cache). */
const runCommand = (
  command: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>>,
  stdin?: string,
  echo = false
): Effect.Effect<CommandRun> =>
  Effect.callback<CommandRun>((resume) => {
    const child = execFile(
      command,
      [...args],
      { env: { ...process.env, ...env }, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resume(Effect.succeed({ code, stdout, stderr }))
      }
    )
    if (echo) child.stdout?.on("data", (chunk: Buffer | string) => process.stdout.write(chunk))
    child.stdin?.end(stdin ?? "")
    return Effect.sync(() => {
      if (!hasExited(child)) child.kill("SIGKILL")
    })
  })

const manifestText = (manifest: unknown): string =>
  typeof manifest === "string" ? manifest : `${JSON.stringify(manifest)}\n`

const nodeMajor = Number(process.versions.node.split(".")[0])

/** Starts the controller and resolves once its caches synced; its log goes to `logFile` and a bounded tail. */
const startController = (args: ReadonlyArray<string>, logFile: string, echo: boolean) =>
  Effect.gen(function* () {
    if (nodeMajor < 24) {
      return yield* failure(
        `the controller needs Node 24, this is ${process.version}: run through npm run / npx (the project's Node)`
      )
    }
    let child: ChildProcess | undefined
    let tail: Array<string> = []
    let log: WriteStream | undefined
    const remember = (text: string) => {
      log?.write(text)
      if (echo) process.stderr.write(text)
      tail.push(...text.split("\n").filter((line) => line.length > 0))
      if (tail.length > 4000) tail = tail.slice(-2000)
    }
    const spawnOne = Effect.callback<void, OperatorSandboxError>((resume) => {
      log = createWriteStream(logFile, { flags: "a" })
      const started = spawn(process.execPath, [executable, "controller", ...args], {
        env: { ...process.env, KUBECONFIG: "" },
        stdio: ["ignore", "pipe", "pipe"]
      })
      child = started
      let synced = false
      started.stdout.setEncoding("utf8")
      started.stderr.setEncoding("utf8")
      started.stdout.on("data", (text: string) => {
        remember(text)
        if (!synced && text.includes("caches synced")) {
          synced = true
          resume(Effect.void)
        }
      })
      started.stderr.on("data", remember)
      started.once("exit", (code, signal) => {
        remember(`controller exited (code ${code}, signal ${signal})\n`)
        if (!synced)
          resume(Effect.fail(failure(`the controller exited before its caches synced:\n${tail.slice(-40).join("\n")}`)))
      })
    }).pipe(
      Effect.timeoutOrElse({
        duration: "60 seconds",
        orElse: () =>
          Effect.fail(failure(`the controller did not sync its caches in 60 s:\n${tail.slice(-40).join("\n")}`))
      })
    )
    const stop = Effect.gen(function* () {
      if (child !== undefined) yield* stopChild(child, { signal: "SIGTERM", grace: "10 seconds" }, "controller")
      log?.end()
    })
    yield* Effect.acquireRelease(spawnOne, () => stop)
    return {
      mode: "process",
      pid: () => child?.pid,
      logTail: (lines = 60) => Effect.sync(() => tail.slice(-lines).join("\n")),
      restart: Effect.andThen(stop, spawnOne)
    } satisfies Controller
  })

/** `text` as JSON, or `fallback` when it is not (a kubectl run cut short). */
const parsedOr = (text: string, fallback: Json): Json => {
  try {
    return JSON.parse(text)
  } catch {
    return fallback
  }
}

/** The installation `operator: "pod"` applies unless told otherwise. */
const defaultKustomization = join(projectRoot, "deploy", "default")

const operatorSelector = selectorString({ matchLabels: operatorLabels })

/** The operator's current Pod (the newest not being deleted) and its log. */
const operatorPodOf = (kubectl: (args: ReadonlyArray<string>) => Effect.Effect<CommandRun>) => {
  const current = Effect.map(
    kubectl(["get", "pods", "-n", operatorNamespace, "-l", operatorSelector, "-o", "json"]),
    (run): Json | undefined => {
      const pods: ReadonlyArray<Json> = run.code === 0 ? (parsedOr(run.stdout, {}).items ?? []) : []
      return pods
        .filter((found) => found.metadata.deletionTimestamp === undefined)
        .sort((a, b) => String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)))[0]
    }
  )
  const logOf = (name: string, lines: number) =>
    Effect.map(kubectl(["logs", "-n", operatorNamespace, name, `--tail=${lines}`]), (run) =>
      run.code === 0 ? run.stdout : `kubectl logs ${name}: ${run.stderr.trim()}`
    )
  const logTail = (lines = 60) =>
    Effect.flatMap(current, (found) =>
      found === undefined
        ? Effect.succeed(`no operator Pod in ${operatorNamespace}`)
        : Effect.map(logOf(found.metadata.name, lines), (log) => `(Pod ${found.metadata.name})\n${log}`)
    )
  return { current, logOf, logTail }
}

/**
 * `kubectl apply -k` of the installation, then the wait until the operator leads: the Deployment available, its
 * Pod Ready, holding the Lease, its caches synced (what the process mode waits for too).
 */
const installOperatorPod = (install: {
  readonly kustomization: string
  readonly kubectlOk: OperatorSandboxService["kubectlOk"]
  readonly waitFor: OperatorSandboxService["waitFor"]
  readonly getIn: (namespace: string, kind: string, name: string) => Effect.Effect<Json, OperatorSandboxError>
  readonly operatorPod: ReturnType<typeof operatorPodOf>
}) =>
  Effect.gen(function* () {
    const { kubectlOk, waitFor, getIn, operatorPod } = install
    const leading = (replacing: string | undefined) =>
      waitFor(
        `the operator Deployment available, its Pod${replacing === undefined ? "" : ` (not ${replacing})`} Ready, holding the Lease, its caches synced`,
        Effect.gen(function* () {
          const deployment = yield* getIn(operatorNamespace, "deployments", operatorNames.deployment)
          const available = (deployment?.status?.conditions ?? []).some(
            (condition: Json) => condition.type === "Available" && condition.status === "True"
          )
          if (!available) return undefined
          const found = yield* operatorPod.current
          const name: string | undefined = found?.metadata.name
          const ready = found !== undefined && isReady(found)
          if (name === undefined || name === replacing || !ready) return undefined
          const lease = yield* getIn(operatorNamespace, "leases", operatorNames.leaderElectionLease)
          const holder = lease?.spec?.holderIdentity
          if (typeof holder !== "string" || !holder.startsWith(name)) return undefined
          const log = yield* operatorPod.logOf(name, 10_000)
          return log.includes("caches synced") ? name : undefined
        }),
        { timeout: "180 seconds" }
      )
    yield* kubectlOk(["apply", "-k", install.kustomization])
    yield* leading(undefined)
    return {
      mode: "pod",
      pid: () => undefined,
      logTail: operatorPod.logTail,
      restart: Effect.gen(function* () {
        const name = (yield* operatorPod.current)?.metadata.name
        if (name === undefined) return yield* failure(`no operator Pod in ${operatorNamespace} to restart`)
        yield* kubectlOk(["delete", "pod", name, "-n", operatorNamespace, "--wait=true", "--timeout=120s"])
        yield* leading(name)
      })
    } satisfies Controller
  })

const make = (
  options: OperatorSandboxOptions
): Effect.Effect<OperatorSandboxService, OperatorSandboxError, Sandbox | FakeApiServer | Scope.Scope> =>
  Effect.gen(function* () {
    const sandbox = yield* Sandbox
    const server = yield* FakeApiServer
    const namespace = "default"
    const dir = join(sandbox.stateDir, "operator")
    const home = join(dir, "home")
    mkdirSync(home, { recursive: true })
    const env = { KUBECONFIG: sandbox.kubeconfig, HOME: home }

    const kubectl = (args: ReadonlyArray<string>, stdin?: string) => runCommand("kubectl", args, env, stdin)
    const kubectlOk = (args: ReadonlyArray<string>, stdin?: string) =>
      Effect.flatMap(kubectl(args, stdin), (run) =>
        run.code === 0
          ? Effect.succeed(run.stdout)
          : Effect.fail(failure(`kubectl ${args.join(" ")} failed (${run.code}): ${run.stderr.trim()}`))
      )
    const describe = (kind: string, name: string) =>
      Effect.map(kubectl(["describe", kind, name, "-n", namespace]), (run) =>
        run.code === 0 ? run.stdout : `kubectl describe ${kind} ${name}: ${run.stderr.trim()}`
      )
    const parse = (text: string, what: string) =>
      Effect.try({
        try: () => JSON.parse(text) as Json,
        catch: () => failure(`${what}: not JSON: ${text.slice(0, 200)}`)
      })
    const getIn = (objectNamespace: string, kind: string, name: string) =>
      Effect.gen(function* () {
        const run = yield* kubectl(["get", kind, name, "-n", objectNamespace, "-o", "json"])
        if (run.code !== 0) {
          if (run.stderr.includes("NotFound") || run.stderr.includes("not found")) return undefined
          return yield* failure(`kubectl get ${kind} ${name}: ${run.stderr.trim()}`)
        }
        return yield* parse(run.stdout, `kubectl get ${kind} ${name}`)
      })
    const get = (kind: string, name: string) => getIn(namespace, kind, name)
    const list = (kind: string, selector?: string) =>
      Effect.gen(function* () {
        const args = ["get", kind, "-n", namespace, "-o", "json", ...(selector === undefined ? [] : ["-l", selector])]
        const body = yield* parse(yield* kubectlOk(args), `kubectl get ${kind}`)
        return (body.items ?? []) as ReadonlyArray<Json>
      })

    const pod = options.operator === "pod"
    const operatorPod = operatorPodOf(kubectl)
    const processController = pod
      ? undefined
      : yield* startController(
          [
            `--kubeconfig=${sandbox.kubeconfig}`,
            "--metrics-address=127.0.0.1:0",
            "--probe-address=127.0.0.1:0",
            `--leader-elect=${options.leaderElect === true}`,
            `--leader-election-namespace=${namespace}`,
            `--log-level=${options.logLevel ?? "Info"}`
          ],
          join(dir, "controller.log"),
          options.echoControllerLog === true
        )
    // the Pod's log is read when asked: a wait that times out shows what the operator said up to then
    const controllerLog = processController?.logTail ?? operatorPod.logTail

    const diagnostics = (what: string, timeout: Duration.Input, objects: ReadonlyArray<readonly [string, string]>) =>
      Effect.gen(function* () {
        const described = yield* Effect.forEach(objects, ([kind, name]) => describe(kind, name))
        const pods = yield* kubectl(["get", "pods,jobs,pvc", "-n", namespace, "-o", "wide"])
        const operatorObjects = pod
          ? [yield* kubectl(["get", "deployments,pods", "-n", operatorNamespace, "-o", "wide"])]
          : []
        return failure(
          [
            `timed out after ${Duration.format(Duration.fromInputUnsafe(timeout))} waiting for: ${what}`,
            ...described.map((text) => `--- describe\n${text}`),
            `--- kubectl get pods,jobs,pvc\n${pods.stdout}${pods.stderr}`,
            ...operatorObjects.map(
              (run) => `--- kubectl get deployments,pods -n ${operatorNamespace}\n${run.stdout}${run.stderr}`
            ),
            `--- controller log (last 60 lines)\n${yield* controllerLog(60)}`
          ].join("\n")
        )
      })

    const waitFor = <A, E, R>(what: string, check: Effect.Effect<A | undefined, E, R>, wait: WaitOptions = {}) => {
      const timeout = wait.timeout ?? "180 seconds"
      return Effect.gen(function* () {
        for (;;) {
          const value = yield* check
          if (value !== undefined) return value
          yield* Effect.sleep("500 millis")
        }
      }).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () => Effect.flatMap(diagnostics(what, timeout, wait.describe ?? []), Effect.fail)
        })
      )
    }
    const waitForCluster = (
      name: string,
      what: string,
      predicate: (cluster: Json) => boolean,
      wait: WaitOptions = {}
    ) =>
      waitFor(
        `Cluster ${name}: ${what}`,
        Effect.map(get("clusters", name), (cluster) =>
          cluster !== undefined && predicate(cluster) ? cluster : undefined
        ),
        { ...wait, describe: wait.describe ?? [["clusters", name]] }
      )
    const waitForPhase = (name: string, phase: string, wait: WaitOptions = {}) =>
      waitForCluster(
        name,
        `phase ${phase}`,
        (cluster) =>
          cluster.status?.phase === phase && cluster.status?.observedGeneration === cluster.metadata.generation,
        wait
      )
    const waitForBackup = (name: string, phase: string, wait: WaitOptions = {}) =>
      waitFor(
        `Backup ${name}: phase ${phase}`,
        Effect.flatMap(get("backups", name), (backup) => {
          const current = backup?.status?.phase
          if (current === phase) return Effect.succeed(backup)
          if (current === "failed") {
            return Effect.flatMap(describe("backups", name), (text) =>
              Effect.fail(failure(`Backup ${name} failed while waiting for ${phase}:\n${text}`))
            )
          }
          return Effect.succeed(undefined)
        }),
        { ...wait, describe: wait.describe ?? [["backups", name]] }
      )

    const controller: Controller =
      processController ??
      (yield* installOperatorPod({
        kustomization: options.kustomization ?? defaultKustomization,
        kubectlOk,
        waitFor,
        getIn,
        operatorPod
      }))

    const secretValue = (name: string, key: string) =>
      Effect.gen(function* () {
        const secret = yield* get("secrets", name)
        const value = secret?.data?.[key]
        if (typeof value !== "string") return yield* failure(`Secret ${name} has no key ${key}`)
        return Buffer.from(value, "base64").toString("utf8")
      })
    const sql = (podName: string) =>
      Effect.gen(function* () {
        const pod = yield* get("pods", podName)
        if (pod === undefined) return yield* failure(`no Pod ${podName}`)
        const clusterName: string | undefined = pod.metadata.labels?.[labels.cluster]
        if (clusterName === undefined) return yield* failure(`Pod ${podName} belongs to no Cluster`)
        const cluster = yield* get("clusters", clusterName)
        const given = cluster?.spec?.credentials?.root
        const password = yield* secretValue(given?.name ?? secretNames(clusterName).credentials, given?.key ?? "root")
        const socket = join(sandbox.stateDir, "pods", pod.metadata.uid, "volumes", "run", "mysqld.sock")
        if (socket.length > 107) {
          return yield* failure(
            `the socket path is longer than a unix socket allows (${socket}): use a shorter state dir`
          )
        }
        const defaults = join(dir, `client-${podName}.cnf`)
        writeFileSync(defaults, `[client]\nuser=root\npassword=${password}\nsocket=${socket}\n`, { mode: 0o600 })
        return sqlClient([`--defaults-file=${defaults}`])
      })

    return {
      sandbox,
      namespace,
      dir,
      controller,
      denials: server.denials,
      kubectl,
      kubectlOk,
      apply: (...manifests) =>
        Effect.asVoid(kubectlOk(["apply", "-n", namespace, "-f", "-"], manifests.map(manifestText).join("\n---\n"))),
      get,
      list,
      remove: (kind, name) =>
        Effect.asVoid(kubectlOk(["delete", kind, name, "-n", namespace, "--wait=true", "--timeout=120s"])),
      describe,
      waitFor,
      waitForCluster,
      waitForPhase,
      waitForBackup,
      sql,
      plugin: (args, pluginOptions) =>
        runCommand(process.execPath, [pluginLauncher, ...args], env, undefined, pluginOptions?.echo === true)
    } satisfies OperatorSandboxService
  })

export class OperatorSandbox extends Context.Service<OperatorSandbox, OperatorSandboxService>()(
  "cnmysql/sandbox/OperatorSandbox"
) {
  /**
   * The sandbox (RGW object store unless `options.sandbox.objectStore` says otherwise, a short state dir so Pod
   * socket paths stay under the unix-socket limit, a 1 s → 10 s crash-loop back-off, RBAC on for the operator
   * Pod) plus the controller.
   */
  static readonly layer = (options: OperatorSandboxOptions = {}) =>
    Layer.effect(OperatorSandbox, make(options)).pipe(
      Layer.provideMerge(
        Layer.unwrap(
          Effect.sync(() =>
            Sandbox.layer({
              objectStore: "rgw",
              jobPodBackoff: "1 seconds",
              // the operator Pod runs with its ServiceAccount's permissions: that needs the API server's RBAC
              ...(options.operator === "pod" ? { rbac: true } : {}),
              ...options.sandbox,
              stateDir: options.sandbox?.stateDir ?? shortStateDir(),
              node: {
                backoffInitialMillis: 1_000,
                backoffCapMillis: 10_000,
                retryMillis: 500,
                shutdownGraceSeconds: 5,
                ...options.sandbox?.node
              }
            })
          )
        )
      )
    )
}

/** `/tmp/cnm-XXXXXX`: the sandbox's own default lives deeper, which pushes Pod socket paths past 107 bytes. */
const shortStateDir = (): string => {
  const base = process.env.TMPDIR !== undefined && process.env.TMPDIR.length < 24 ? tmpdir() : "/tmp"
  return mkdtempSync(join(base, "cnm-"))
}

/** The sandbox's object store as an `ObjectStore` spec under `path` (a Cluster's `backup`, an external cluster). */
export const sandboxObjectStore = (sandbox: SandboxService, path: string) => {
  if (sandbox.objectStore === undefined) throw new Error("this sandbox runs no object store")
  return {
    bucket: sandbox.objectStore.bucket,
    path,
    endpoint: sandbox.objectStore.endpoint,
    region: sandbox.objectStore.region,
    forcePathStyle: true,
    credentials: {
      accessKeyId: { name: sandboxCredentialsSecret, key: "accessKey" },
      secretAccessKey: { name: sandboxCredentialsSecret, key: "secretKey" }
    }
  }
}

/** A Cluster on the MariaDB 10.11 instance image with 1Gi volumes; `spec` adds or overrides fields. */
export const clusterManifest = (
  name: string,
  spec: Readonly<Record<string, unknown>> & { readonly instances: number }
) => ({
  apiVersion: ApiVersion,
  kind: "Cluster",
  metadata: { name },
  spec: { imageName: instanceImage("mariadb-10.11"), storage: { size: "1Gi" }, ...spec }
})
