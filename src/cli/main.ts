/**
 * `cloudnative-mysql <subcommand>`: the one executable every role runs (DESIGN.md §3). Subcommands load
 * lazily, so e.g. `restore` never loads the instance manager's HTTP server.
 *
 * Exit codes: 0 success, 1 the subcommand failed (its reason is in the termination message and the
 * logs), 2 usage errors (unknown subcommand, a subcommand this release does not ship), 130 interrupted.
 *
 * @since 0.1.0
 */
import { setFlagsFromString } from "node:v8"
import { DefaultTerminationMessagePath, runCommand } from "./run.ts"

/** The usage text printed by `--help`. */
export const usage = `Usage: cloudnative-mysql <subcommand>

Subcommands:
  instance     run the instance manager next to the database server (docs/instance-manager.md)
  backup       take one backup: stream it from an instance manager into the object store (docs/worker.md)
  restore      restore a backup from the object store into a data directory (docs/restore.md)
  abort-uploads  abort the incomplete multipart uploads under a prefix (docs/janitor.md)
  controller   the operator's controller-manager (docs/backup.md; --help lists its flags)

Each subcommand reads its configuration from environment variables and mounted files.
Options:
  -h, --help   print this help
`

/**
 * The data movers stream every byte through buffers allocated outside the JS heap; with V8's default young
 * generation those are reclaimed only by full collections, each walking the whole heap (SDK + Effect), about 30
 * times per GiB. A 2 MiB semi-space frees them in cheap minor collections: measured with bench/download.ts,
 * about 1 CPU-s less per GiB and 10-20 % more throughput on a verified download.
 */
const tuneHeapForStreaming = (): void => setFlagsFromString("--max-semi-space-size=2")

const stderr = (text: string): void => {
  process.stderr.write(text.endsWith("\n") ? text : `${text}\n`)
}

/** Runs the subcommand named by `argv[0]` and resolves with the process exit code. */
export const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const [command, ...rest] = argv
  const env = process.env
  const terminationPath = env.TERMINATION_MESSAGE_PATH || DefaultTerminationMessagePath
  switch (command) {
    case undefined:
    case "-h":
    case "--help":
    case "help":
      ;(command === undefined ? stderr : (t: string) => process.stdout.write(t))(usage)
      return command === undefined ? 2 : 0
    case "instance": {
      const { instanceMain } = await import("../instance/main.ts")
      // the instance manager owns the process from here (signals, exit code): this promise never settles
      instanceMain(rest)
      return new Promise<number>(() => undefined)
    }
    case "backup": {
      tuneHeapForStreaming()
      const { decodeWorkerEnv } = await import("../api/jobs.ts")
      const { backupWorker } = await import("../pipeline/worker.ts")
      const { Effect } = await import("effect")
      return runCommand(Effect.flatMap(decodeWorkerEnv(env), backupWorker), terminationPath)
    }
    case "restore": {
      tuneHeapForStreaming()
      const { decodeRestoreEnv } = await import("../api/jobs.ts")
      const { restoreProgram } = await import("../recovery/main.ts")
      const { Effect } = await import("effect")
      return runCommand(Effect.flatMap(decodeRestoreEnv(env), restoreProgram), terminationPath)
    }
    case "abort-uploads": {
      const { decodeCleanupEnv, cleanupProgram } = await import("../janitor/abortUploads.ts")
      const { Effect } = await import("effect")
      return runCommand(Effect.flatMap(decodeCleanupEnv(env), cleanupProgram), terminationPath)
    }
    case "controller": {
      const { controllerMain } = await import("../controller/main.ts")
      return controllerMain(rest)
    }
    default:
      stderr(`cloudnative-mysql: unknown subcommand "${command}"\n\n${usage}`)
      return 2
  }
}
