/**
 * Running the product's processes exactly as their Pods and Jobs will run them, on one machine: the
 * `cloudnative-mysql` executable with its subcommand and environment, its JSON log lines read from stdout, its
 * termination message read from a file. Used by the end-to-end tests and the benchmarks.
 *
 * @since 0.1.0
 */
import type { ChildProcess } from "node:child_process"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { request } from "node:http"
import { join } from "node:path"
import { Data, Effect, Fiber, Schema, type Scope } from "effect"
import {
  type FailureMessage,
  isFailureMessage,
  type RestoreEnvVars,
  type RestoreTerminationMessage,
  type WorkerEnvVars,
  type WorkerTerminationMessage
} from "../api/jobs.ts"
import { nowMillis } from "../api/time.ts"
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  type PkiError
} from "../instance/pki.ts"
import { outputText, type StopRule, spawnChild } from "../platform/childProcess.ts"
import { waitUntilReady } from "../platform/waitUntil.ts"
import { freePort } from "./ports.ts"
import { type S3Endpoint, staticConnection } from "./s3Endpoint.ts"

/** The launcher of the one executable. */
export const executable = join(import.meta.dirname, "..", "..", "bin", "cloudnative-mysql.js")

/** How a finished subcommand process ended. */
export interface ProcessOutcome {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
  /** The parsed termination message, or `undefined` when none was written. */
  readonly termination: unknown
}

/** A running subcommand process. */
export interface RunningProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** Resolves when the process exited. */
  readonly outcome: Effect.Effect<ProcessOutcome>
}

/** Options of one subcommand run. */
export interface SubcommandOptions {
  readonly env: Readonly<Record<string, string>>
  /** Called with each stdout line as it arrives (JSON log lines). */
  readonly onLine?: (line: string) => void
  /** Directory for the termination message file. */
  readonly workDir: string
  /** The launcher to run (default {@link executable}; the benchmarks compare builds side by side). */
  readonly executable?: string
  /** How the scope's release stops a process that still runs (default: SIGKILL at once). */
  readonly stop?: StopRule
  /** A command line the process runs under, which execs its trailing arguments (`unshare …`, `setpriv …`). */
  readonly wrapper?: readonly [string, ...Array<string>]
}

/**
 * Starts `cloudnative-mysql <subcommand>` with `options.env` on top of this process's environment. The
 * process is SIGKILLed when the scope closes if it still runs.
 */
export const spawnSubcommand = (
  subcommand: string,
  options: SubcommandOptions
): Effect.Effect<RunningProcess, never, Scope.Scope> =>
  Effect.gen(function* () {
    yield* Effect.promise(() => mkdir(options.workDir, { recursive: true }))
    const terminationPath = join(options.workDir, `${subcommand}-${yield* nowMillis}-termination.json`)
    // node itself is always there; a failure to start it is a broken machine, not an outcome
    const argv = [process.execPath, options.executable ?? executable, subcommand] as const
    const [command, ...args]: readonly [string, ...Array<string>] =
      options.wrapper === undefined ? argv : [...options.wrapper, ...argv]
    const child = yield* spawnChild(command, args, {
      env: { ...process.env, TERMINATION_MESSAGE_PATH: terminationPath, ...options.env },
      stdout: "pipe",
      stderr: "pipe",
      stop: options.stop ?? { signal: "SIGKILL", grace: 0 }
    }).pipe(Effect.orDie)
    let stdout = ""
    let partial = ""
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (text: string) => {
      stdout += text
      const lines = (partial + text).split("\n")
      partial = lines.pop() ?? ""
      for (const line of lines) options.onLine?.(line)
    })
    const stderr = yield* Effect.forkScoped(outputText(child.stderr))
    const outcome = Effect.gen(function* () {
      const exitCode = yield* child.closed
      const text = yield* Effect.promise(() => readFile(terminationPath, "utf8").catch(() => undefined))
      let termination: unknown
      try {
        termination = text === undefined ? undefined : JSON.parse(text)
      } catch {
        termination = text
      }
      return { exitCode, stdout, stderr: yield* Fiber.join(stderr), termination } satisfies ProcessOutcome
    })
    return { child: child.process, pid: child.pid, outcome }
  })

/** Runs a subcommand to its end. */
export const runSubcommand = (subcommand: string, options: SubcommandOptions): Effect.Effect<ProcessOutcome> =>
  Effect.scoped(Effect.flatMap(spawnSubcommand(subcommand, options), (p) => p.outcome))

/** File paths of the generated cluster PKI. */
export interface PkiFiles {
  readonly caFile: string
  readonly serverCertFile: string
  readonly serverKeyFile: string
  readonly clientCertFile: string
  readonly clientKeyFile: string
}

/** Creates a cluster CA, a server certificate for 127.0.0.1/localhost and a worker client certificate. */
export const writePki = (dir: string): Effect.Effect<PkiFiles, PkiError> =>
  Effect.gen(function* () {
    yield* Effect.promise(() => mkdir(dir, { recursive: true }))
    const ca = yield* createCertificateAuthority({ commonName: "cloudnative-mysql demo CA" })
    const server = yield* issueServerCertificate(ca, { commonName: "instance-1", names: ["127.0.0.1", "localhost"] })
    const client = yield* issueClientCertificate(ca, { commonName: "backup-worker" })
    const files: PkiFiles = {
      caFile: join(dir, "ca.crt"),
      serverCertFile: join(dir, "server.crt"),
      serverKeyFile: join(dir, "server.key"),
      clientCertFile: join(dir, "client.crt"),
      clientKeyFile: join(dir, "client.key")
    }
    yield* Effect.promise(async () => {
      await writeFile(files.caFile, ca.certificate)
      await writeFile(files.serverCertFile, server.certificate)
      await writeFile(files.serverKeyFile, server.privateKey, { mode: 0o600 })
      await writeFile(files.clientCertFile, client.certificate)
      await writeFile(files.clientKeyFile, client.privateKey, { mode: 0o600 })
    })
    return files
  })

/** A GET on the plain-HTTP probe listener; the status code, or 0 when nothing answers. */
export const probe = (port: number, path: string): Effect.Effect<number> =>
  Effect.callback<number>((resume) => {
    const req = request({ host: "127.0.0.1", port, path, timeout: 2000 }, (res) => {
      res.resume()
      resume(Effect.succeed(res.statusCode ?? 0))
    })
    req.once("error", () => resume(Effect.succeed(0)))
    req.once("timeout", () => req.destroy())
    req.end()
  })

/** What the instance manager needs to attach to a running server. */
export interface InstanceManagerOptions {
  readonly socket: string
  readonly backupUser: string
  readonly backupPassword: string
  readonly pki: PkiFiles
  readonly apiPort: number
  readonly probePort: number
  readonly workDir: string
  readonly extraEnv?: Readonly<Record<string, string>>
  readonly executable?: string
}

/** The instance manager exited or did not answer `/healthz` in time; `output` is the end of its logs. */
export class InstanceManagerNotHealthy extends Data.TaggedError("InstanceManagerNotHealthy")<{
  readonly output: string
}> {
  override get message(): string {
    return `the instance manager did not become healthy: ${this.output}`
  }
}

/** A running instance manager process. */
export interface RunningInstanceManager extends RunningProcess {
  readonly url: string
}

/** Starts `cloudnative-mysql instance` attached to the server at `socket` and waits until it is healthy. */
export const startInstanceManager = (
  options: InstanceManagerOptions
): Effect.Effect<RunningInstanceManager, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const passwordFile = join(options.workDir, "backup-password")
    yield* Effect.promise(async () => {
      await mkdir(options.workDir, { recursive: true })
      await writeFile(passwordFile, `${options.backupPassword}\n`, { mode: 0o600 })
    })
    const running = yield* spawnSubcommand("instance", {
      workDir: options.workDir,
      // SIGTERM: a clean shutdown
      stop: { signal: "SIGTERM", grace: "15 seconds" },
      ...(options.executable === undefined ? {} : { executable: options.executable }),
      env: {
        FLAVOR: "mariadb",
        LISTEN_ADDRESS: "127.0.0.1",
        API_PORT: String(options.apiPort),
        PROBE_PORT: String(options.probePort),
        MYSQL_SOCKET: options.socket,
        BACKUP_USER: options.backupUser,
        BACKUP_PASSWORD_FILE: passwordFile,
        TLS_CA_FILE: options.pki.caFile,
        TLS_CERT_FILE: options.pki.serverCertFile,
        TLS_KEY_FILE: options.pki.serverKeyFile,
        ...options.extraEnv
      }
    })
    const unhealthy = () =>
      Effect.flatMap(running.outcome, (outcome) =>
        Effect.fail(
          new InstanceManagerNotHealthy({ output: `${outcome.stdout.slice(-1500)}${outcome.stderr.slice(-1500)}` })
        )
      )
    yield* waitUntilReady({
      probe: Effect.map(probe(options.probePort, "/healthz"), (status) => status === 200),
      exited: () => running.child.exitCode !== null,
      interval: "100 millis",
      timeout: "30 seconds",
      onExited: unhealthy,
      onTimeout: unhealthy
    })
    return { ...running, url: `https://127.0.0.1:${options.apiPort}` }
  })

/**
 * A fresh cluster PKI under `dir/pki` and an instance manager attached to the server at `socket`, listening on
 * free loopback ports: what the demo and the benchmark both need before a backup.
 */
export const startLocalInstanceManager = (options: {
  readonly socket: string
  readonly backupUser: string
  readonly backupPassword: string
  readonly dir: string
  readonly extraEnv?: Readonly<Record<string, string>>
  readonly executable?: string
  /** An existing PKI (several instance managers of one benchmark share it). */
  readonly pki?: PkiFiles
  /** Its work directory's name under `dir` (default `instance`). */
  readonly name?: string
}): Effect.Effect<{ readonly pki: PkiFiles; readonly im: RunningInstanceManager }, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const pki = options.pki ?? (yield* writePki(join(options.dir, "pki")))
    const im = yield* startInstanceManager({
      ...(options.executable === undefined ? {} : { executable: options.executable }),
      socket: options.socket,
      backupUser: options.backupUser,
      backupPassword: options.backupPassword,
      pki,
      apiPort: yield* freePort,
      probePort: yield* freePort,
      workDir: join(options.dir, options.name ?? "instance"),
      ...(options.extraEnv === undefined ? {} : { extraEnv: options.extraEnv })
    })
    return { pki, im }
  })

/** S3 endpoint and static credentials for the object-store environment of the worker and restore. */
export interface S3Target extends S3Endpoint {
  readonly bucket: string
  readonly path: string
  /** PEM of the CA to trust for an https endpoint. */
  readonly caBundle?: string
}

/** Writes the credential files and returns `OBJECT_STORE_SPEC` / `OBJECT_STORE_SECRETS_DIR`. */
export const objectStoreEnv = (target: S3Target, dir: string): Effect.Effect<Record<string, string>> =>
  Effect.promise(async () => {
    const secrets = join(dir, "object-store-secrets")
    await mkdir(secrets, { recursive: true })
    await writeFile(join(secrets, "accessKeyId"), `${target.accessKey}\n`, { mode: 0o600 })
    await writeFile(join(secrets, "secretAccessKey"), `${target.secretKey}\n`, { mode: 0o600 })
    if (target.caBundle !== undefined) await writeFile(join(secrets, "caBundle"), target.caBundle)
    const { spec } = staticConnection(target, target.bucket, {
      ...(target.path === "" ? {} : { path: target.path }),
      ...(target.caBundle === undefined ? {} : { caBundle: { name: "s3", key: "caBundle" } })
    })
    return { OBJECT_STORE_SPEC: JSON.stringify(spec), OBJECT_STORE_SECRETS_DIR: secrets }
  })

/** The worker environment for one backup of `cluster` from the instance manager at `url`. */
export const workerEnv = (options: {
  readonly url: string
  readonly pki: PkiFiles
  readonly cluster: string
  readonly backupName: string
  readonly backupId: string
  readonly namespace?: string
}): WorkerEnvVars => ({
  BACKUP_NAMESPACE: options.namespace ?? "default",
  BACKUP_CLUSTER_NAME: options.cluster,
  BACKUP_CLUSTER_UID: "00000000-0000-4000-8000-000000000001",
  BACKUP_NAME: options.backupName,
  BACKUP_UID: "00000000-0000-4000-8000-000000000002",
  BACKUP_ID: options.backupId,
  BACKUP_INSTANCE_URL: options.url,
  BACKUP_INSTANCE_NAME: `${options.cluster}-1`,
  BACKUP_TLS_CA_FILE: options.pki.caFile,
  BACKUP_TLS_CERT_FILE: options.pki.clientCertFile,
  BACKUP_TLS_KEY_FILE: options.pki.clientKeyFile
})

/** Which backup a restore takes: explicit keys (a Backup's status) or the latest / a pinned id under a prefix. */
export type RestoreFrom =
  | {
      readonly archiveKey: string
      readonly metadataKey: string
      readonly sha256: string
      readonly size: number
    }
  | { readonly sourceCluster: string; readonly backupId?: string }

/** The restore environment for a data directory and its server option file. */
export const restoreEnv = (options: {
  readonly dataDir: string
  readonly defaultsFile: string
  readonly from: RestoreFrom
}): RestoreEnvVars => {
  const { from } = options
  const source: RestoreEnvVars =
    "sourceCluster" in from
      ? {
          RESTORE_DATA_DIR: options.dataDir,
          RESTORE_SERVER_DEFAULTS_FILE: options.defaultsFile,
          RESTORE_SOURCE_CLUSTER: from.sourceCluster,
          ...(from.backupId === undefined ? {} : { RESTORE_BACKUP_ID: from.backupId })
        }
      : {
          RESTORE_DATA_DIR: options.dataDir,
          RESTORE_SERVER_DEFAULTS_FILE: options.defaultsFile,
          RESTORE_ARCHIVE_KEY: from.archiveKey,
          RESTORE_METADATA_KEY: from.metadataKey,
          RESTORE_EXPECTED_SHA256: from.sha256,
          RESTORE_EXPECTED_SIZE: String(from.size)
        }
  return source
}

/** A termination message that does not decode with its process's contract, or is not the expected outcome. */
export class UnexpectedTermination extends Data.TaggedError("UnexpectedTermination")<{
  readonly detail: string
}> {
  override get message(): string {
    return this.detail
  }
}

type TerminationSchema = typeof WorkerTerminationMessage | typeof RestoreTerminationMessage

const decodeTermination = <S extends TerminationSchema>(schema: S, outcome: ProcessOutcome) =>
  Schema.decodeUnknownEffect(schema)(outcome.termination).pipe(
    Effect.mapError(
      (error) =>
        new UnexpectedTermination({
          detail: `the termination message ${JSON.stringify(outcome.termination)} does not decode: ${error.message}`
        })
    )
  ) as Effect.Effect<S["Type"], UnexpectedTermination>

/** A successful run's result, decoded with the process's `TerminationMessage` Schema. */
export const terminationResult = <S extends TerminationSchema>(
  schema: S,
  outcome: ProcessOutcome
): Effect.Effect<Exclude<S["Type"], FailureMessage>, UnexpectedTermination> =>
  Effect.flatMap(decodeTermination(schema, outcome), (message) =>
    isFailureMessage(message)
      ? Effect.fail(new UnexpectedTermination({ detail: `the run failed: ${message.reason}: ${message.message}` }))
      : Effect.succeed(message as Exclude<S["Type"], FailureMessage>)
  )

/** A failed run's `{ reason, message }`, decoded with the process's `TerminationMessage` Schema. */
export const terminationFailure = <S extends TerminationSchema>(
  schema: S,
  outcome: ProcessOutcome
): Effect.Effect<FailureMessage, UnexpectedTermination> =>
  Effect.flatMap(decodeTermination(schema, outcome), (message) =>
    isFailureMessage(message)
      ? Effect.succeed(message)
      : Effect.fail(new UnexpectedTermination({ detail: `the run succeeded: ${JSON.stringify(message)}` }))
  )

/** Parses JSON log lines, skipping anything else. */
export const parseLogLines = (stdout: string): Array<{ message?: unknown; annotations?: Record<string, unknown> }> =>
  stdout.split("\n").flatMap((line) => {
    if (!line.startsWith("{")) return []
    try {
      return [JSON.parse(line) as { message?: unknown; annotations?: Record<string, unknown> }]
    } catch {
      return []
    }
  })
