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
 * Adding a subcommand: write a `Command.make(name, flags, handler)` whose handler ends with `exitWith(code)`
 * (or is `runToCompletion(load)` for a process that writes a termination message), and add it to
 * `subcommands` below.
 *
 * @since 0.1.0
 */
import { setFlagsFromString } from "node:v8"
// by module, not the package index: the index loads every platform module (HTTP server, workers, …) at each
// start of every subcommand (docs/performance.md, "Start-up")
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Console, Context, Deferred, Effect, Layer, Option } from "effect"
import { CliOutput, Command, Flag } from "effect/cli"
import { ArchiverEnv, decodeArchiverEnv } from "../api/binlogArchive.ts"
import { CleanupEnv, decodeCleanupEnv } from "../api/cleanupJob.ts"
import type { Failure } from "../api/failures.ts"
import { decodeRestoreEnv, decodeWorkerEnv, RestoreEnv, WorkerEnv } from "../api/jobs.ts"
import { controllerFlags, toConfig } from "../controller/flags.ts"
import { InstanceManagerEnv } from "../instance/config.ts"
import { DefaultTerminationMessagePath, runCommand } from "./run.ts"

/** The process exit code a subcommand resolved with (main waits for it). */
class ExitCode extends Context.Service<ExitCode, Deferred.Deferred<number>>()("cloudnative-mysql/cli/ExitCode") {
  static readonly layer = Layer.effect(ExitCode, Deferred.make<number>())
}

/** Ends the subcommand with `code` as the process exit code. */
const exitWith = (code: number) => Effect.flatMap(ExitCode, (deferred) => Deferred.succeed(deferred, code))

/**
 * The data movers stream every byte through buffers allocated outside the JS heap; with V8's default young
 * generation those are reclaimed only by full collections, each walking the whole heap (SDK + Effect), about 30
 * times per GiB. A 2 MiB semi-space frees them in cheap minor collections: measured with bench/download.ts,
 * about 1 CPU-s less per GiB and 10-20 % more throughput on a verified download.
 */
const tuneHeapForStreaming = (): void => setFlagsFromString("--max-semi-space-size=2")

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
    // it serves the backup stream through the same kind of buffers (docs/performance.md)
    tuneHeapForStreaming()
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
    tuneHeapForStreaming()
    const program = yield* Effect.promise(load)
    yield* exitWith(yield* Effect.promise(() => runCommand(program, terminationPath())))
  })

const backup = Command.make("backup", {}, () =>
  runToCompletion(async () => {
    const { backupWorker } = await import("../pipeline/worker.ts")
    return Effect.flatMap(decodeWorkerEnv(process.env), backupWorker)
  })
).pipe(
  Command.withDescription(
    `Take one backup: stream it from an instance manager into the object store (docs/worker.md). ${environment(WorkerEnv.fields, "docs/worker.md")}`
  )
)

const restore = Command.make("restore", {}, () =>
  runToCompletion(async () => {
    const { restoreProgram } = await import("../recovery/main.ts")
    return Effect.flatMap(decodeRestoreEnv(process.env), restoreProgram)
  })
).pipe(
  Command.withDescription(
    `Restore a backup from the object store into a data directory (docs/restore.md). ${environment(RestoreEnv.fields, "docs/restore.md")}`
  )
)

const recoveryPlan = Command.make("recovery-plan", {}, () =>
  runToCompletion(async () => {
    const { recoveryPlanProgram } = await import("../recovery/main.ts")
    return Effect.flatMap(decodeRestoreEnv(process.env), recoveryPlanProgram)
  })
).pipe(
  Command.withDescription(
    `Plan a point-in-time recovery without touching data: the base backup, the archived binlog files to replay, and whether the target is reachable (docs/pitr.md). The restore's environment: ${environment(RestoreEnv.fields, "docs/restore.md")}`
  )
)

const abortUploads = Command.make("abort-uploads", {}, () =>
  runToCompletion(async () => {
    const { cleanupProgram } = await import("../janitor/abortUploads.ts")
    return Effect.flatMap(decodeCleanupEnv(process.env), cleanupProgram)
  })
).pipe(
  Command.withDescription(
    `Abort the incomplete multipart uploads under a prefix, the parts a killed backup worker left (docs/janitor.md). ${environment(CleanupEnv.fields, "docs/janitor.md")}`
  )
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

const archiveBinlogs = Command.make("archive-binlogs", {}, () =>
  runToCompletion(async () => {
    const { archiverProgram } = await import("../pitr/main.ts")
    return Effect.flatMap(decodeArchiverEnv(process.env), archiverProgram)
  })
).pipe(
  Command.withDescription(
    `Archive the primary's binlogs into the object store, continuously (docs/pitr.md). ${environment(ArchiverEnv.fields, "docs/pitr.md, with OBJECT_STORE_SPEC")}`
  )
)

/** The subcommands, in the order `--help` lists them. */
const subcommands = [instance, backup, restore, recoveryPlan, abortUploads, archiveBinlogs, controller] as const

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
