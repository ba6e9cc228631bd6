/**
 * `cloudnative-mysql <subcommand>`: the one executable every role runs (docs/design.md, "Processes"). The
 * command line is one `effect/cli` definition, so `--help` of the executable and of each subcommand is
 * generated from it; each subcommand's help lists the environment variables its contract Schema names
 * (containers are configured by environment, and that stays the way to configure them). Subcommands load
 * their code lazily, so e.g. `restore` never loads the instance manager's HTTP server.
 *
 * Exit codes: 0 success, 1 the subcommand failed (its reason is in the termination message and the logs),
 * 2 usage errors (unknown subcommand or flag, no subcommand, a subcommand this release does not ship),
 * 130 interrupted.
 *
 * The data movers' V8 flags (`--single-threaded-gc`, the 2 MiB young generation) are set before this module is
 * loaded, by the launcher (src/cli/nodeFlags.ts).
 *
 * Adding a subcommand: write a `Command.make(name, flags, handler)` whose handler ends with `exitWith(code)`
 * (or build it with `runToCompletionCommand(…)` for a process that writes a termination message), and add it to
 * `subcommands` below.
 *
 * @since 0.1.0
 */
// by module, not the package index: the index loads every platform module (HTTP server, workers, …) at each
// start of every subcommand (docs/performance.md, "Start-up")
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Console, Context, Deferred, Effect, Layer, Option } from "effect"
import { CliOutput, Command, Flag } from "effect/cli"
import { ArchiverEnv, decodeArchiverEnv } from "../api/binlogArchive.ts"
import { CleanupEnv, decodeCleanupEnv } from "../api/cleanupJob.ts"
import type { Failure } from "../api/failures.ts"
import { decodeRestoreEnv, decodeWorkerEnv, RestoreEnv, WorkerEnv } from "../api/jobs.ts"
import { decodeRetentionEnv, RetentionEnv } from "../api/retentionJob.ts"
import { controllerFlags, toConfig } from "../controller/flags.ts"
import { InstanceManagerEnv } from "../instance/config.ts"
import { DefaultTerminationMessagePath, runCommand } from "./run.ts"

/** The process exit code a subcommand resolved with (main waits for it). */
class ExitCode extends Context.Service<ExitCode, Deferred.Deferred<number>>()("cloudnative-mysql/cli/ExitCode") {
  static readonly layer = Layer.effect(ExitCode, Deferred.make<number>())
}

/** Ends the subcommand with `code` as the process exit code. */
const exitWith = (code: number) => Effect.flatMap(ExitCode, (deferred) => Deferred.succeed(deferred, code))

/** The help line naming the environment variables a contract Schema reads. */
const environment = (fields: object, doc: string): string =>
  `Configured by environment variables (${doc}): ${Object.keys(fields).join(", ")}.`

const terminationPath = (): string => process.env.TERMINATION_MESSAGE_PATH || DefaultTerminationMessagePath

const kebab = (name: string): string => name.toLowerCase().replaceAll("_", "-")

/** Every instance-manager variable is also a flag (`--api-port=8443` sets `API_PORT`). */
const instanceFlags = Object.fromEntries(
  Object.keys(InstanceManagerEnv.fields).map((name) => [
    name,
    Flag.String(kebab(name)).pipe(Flag.optional, Flag.withDescription(`sets ${name}`))
  ])
) as Record<string, Flag.Flag<Option.Option<string>>>

const instance = Command.make("instance", instanceFlags, (flags) =>
  Effect.promise(async () => {
    const { instanceMain } = await import("../instance/main.ts")
    const argv = Object.entries(flags).flatMap(([name, value]) =>
      Option.isSome(value) ? [`--${kebab(name)}=${value.value}`] : []
    )
    // the instance manager owns the process from here (signals, exit code): this promise never settles
    instanceMain(argv)
    return new Promise<never>(() => undefined)
  })
).pipe(
  Command.withDescription(
    `Run the instance manager next to the database server (docs/instance-manager.md). ${environment(InstanceManagerEnv.fields, "or the flags below")}`
  )
)

/**
 * A run-to-completion subcommand (a Job's or an init container's process): `load` imports its code and builds
 * the program; `runCommand` runs it and writes the termination message.
 */
const runToCompletion = (load: () => Promise<Effect.Effect<object, Failure>>) =>
  Effect.gen(function* () {
    const program = yield* Effect.promise(load)
    yield* exitWith(yield* Effect.promise(() => runCommand(program, terminationPath())))
  })

/**
 * A run-to-completion subcommand configured by an environment contract (`decode`; the help lists its `fields`,
 * with `doc`): `load` imports the process's code and gives the program of a decoded environment.
 */
const runToCompletionCommand = <Env>(
  name: string,
  summary: string,
  contract: {
    readonly fields: object
    readonly decode: (env: NodeJS.ProcessEnv) => Effect.Effect<Env, Failure>
    readonly doc: string
  },
  load: () => Promise<(env: Env) => Effect.Effect<object, Failure>>
) =>
  Command.make(name, {}, () =>
    runToCompletion(async () => Effect.flatMap(contract.decode(process.env), await load()))
  ).pipe(Command.withDescription(`${summary} ${environment(contract.fields, contract.doc)}`))

const backup = runToCompletionCommand(
  "backup",
  "Take one backup: stream it from an instance manager into the object store (docs/worker.md).",
  { fields: WorkerEnv.fields, decode: decodeWorkerEnv, doc: "docs/worker.md" },
  async () => (await import("../pipeline/worker.ts")).backupWorker
)

const restore = runToCompletionCommand(
  "restore",
  "Restore a backup from the object store into a data directory (docs/restore.md).",
  { fields: RestoreEnv.fields, decode: decodeRestoreEnv, doc: "docs/restore.md" },
  async () => (await import("../recovery/main.ts")).restoreProgram
)

const recoveryPlan = runToCompletionCommand(
  "recovery-plan",
  "Plan a point-in-time recovery without touching data: the base backup, the archived binlog files to replay, and whether the target is reachable (docs/pitr.md). The restore's environment:",
  { fields: RestoreEnv.fields, decode: decodeRestoreEnv, doc: "docs/restore.md" },
  async () => (await import("../recovery/main.ts")).recoveryPlanProgram
)

const abortUploads = runToCompletionCommand(
  "abort-uploads",
  "Abort the incomplete multipart uploads under a prefix, the parts a killed backup worker left (docs/janitor.md).",
  { fields: CleanupEnv.fields, decode: decodeCleanupEnv, doc: "docs/janitor.md" },
  async () => (await import("../janitor/abortUploads.ts")).cleanupProgram
)

const retention = runToCompletionCommand(
  "retention",
  'Delete the base backups and binlog files a Cluster\'s retention policy no longer needs, or list them in a dry run (docs/pitr.md, "Retention").',
  { fields: RetentionEnv.fields, decode: decodeRetentionEnv, doc: "docs/pitr.md" },
  async () => (await import("../retention/retention.ts")).retentionProgram
)

const controller = Command.make("controller", controllerFlags, (flags) =>
  Effect.gen(function* () {
    const config = yield* toConfig(flags)
    const { controllerProcess } = yield* Effect.promise(() => import("../controller/main.ts"))
    yield* exitWith(yield* Effect.promise(() => controllerProcess(config)))
  }).pipe(
    Effect.catchTag("InvalidControllerFlag", (error) => Console.error(error.message).pipe(Effect.andThen(exitWith(2))))
  )
).pipe(
  Command.withDescription(
    "The operator's controller-manager: reconciles Clusters (docs/cluster.md), Backups and ScheduledBackups (docs/backup.md). Every flag falls back to the environment variable named in its help."
  )
)

const archiveBinlogs = runToCompletionCommand(
  "archive-binlogs",
  "Archive the primary's binlogs into the object store, continuously (docs/pitr.md).",
  { fields: ArchiverEnv.fields, decode: decodeArchiverEnv, doc: "docs/pitr.md, with OBJECT_STORE_SPEC" },
  async () => (await import("../pitr/main.ts")).archiverProgram
)

/** The subcommands, in the order `--help` lists them. */
const subcommands = [
  instance,
  backup,
  restore,
  recoveryPlan,
  abortUploads,
  retention,
  archiveBinlogs,
  controller
] as const

/** The whole command line. */
export const commandLine = Command.make("cloudnative-mysql").pipe(
  Command.withDescription(
    "Kubernetes operator for physical backup and recovery of MySQL-family databases. Each subcommand reads its configuration from environment variables and mounted files."
  ),
  Command.withSubcommands(subcommands)
)

/** Usage errors and implicit help (no subcommand) go to stderr: stdout is for logs and `--help`. */
const stderrPresenter = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "Version" || (event._tag === "Help" && event.reason === "Requested")
      ? CliOutput.defaultPresenter.present(event)
      : Effect.gen(function* () {
          const formatter = yield* CliOutput.Formatter
          yield* Console.error(formatter.formatHelpDoc(event.helpDoc))
          if (event._tag === "InvalidInvocation") yield* Console.error(formatter.formatErrors(event.errors))
        })
})

/** Runs the command line `argv` (without the executable) and resolves with the process exit code. */
export const main = (argv: ReadonlyArray<string>): Promise<number> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const exitCode = yield* ExitCode
      const exit = yield* Effect.exit(Command.runWith(commandLine, { version: "0.1.0" })(argv))
      // a usage error (or no subcommand) was reported by the presenter; `--help` and `--version` succeed
      if (exit._tag === "Failure") return 2
      const code = yield* Deferred.poll(exitCode)
      return Option.isSome(code) ? yield* code.value : 0
    }).pipe(Effect.provide([ExitCode.layer, NodeServices.layer, stderrPresenter]))
  )
