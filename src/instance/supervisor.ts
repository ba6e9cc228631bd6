/**
 * Supervision of the database server when the instance manager is the Pod's PID 1: starts `mariadbd`/`mysqld`
 * with the given option file, logs its output line by line, and on shutdown sends SIGTERM (a clean shutdown for
 * both servers) and waits. If the server dies on its own, `exited` fails so the instance manager exits non-zero
 * and Kubernetes restarts the container: we do not restart a crashed server behind the kubelet's back.
 *
 * @since 0.1.0
 */
import type { Readable } from "node:stream"
import { Data, Effect, Stream } from "effect"
import { outputLines, spawnChild } from "../platform/childProcess.ts"

/** The supervised server process exited (or could not start). */
export class ServerProcessExited extends Data.TaggedError("ServerProcessExited")<{
  readonly binary: string
  readonly exitCode: number | null
  readonly signal: string | null
}> {
  override get message(): string {
    return `${this.binary} exited (code ${this.exitCode}, signal ${this.signal})`
  }
}

/** A supervised server. */
export interface SupervisedServer {
  readonly pid: number
  readonly alive: () => boolean
  /** Fails when the server process exits while supervised. */
  readonly exited: Effect.Effect<never, ServerProcessExited>
}

const logLines = (output: Readable, source: string) =>
  outputLines(output).pipe(
    Stream.runForEach((line) => (line.trim() === "" ? Effect.void : Effect.logInfo(line))),
    Effect.annotateLogs({ source }),
    Effect.forkScoped
  )

/**
 * `--user=root` when this process runs as root: the server refuses to run as root unless told to, and the
 * rendered option file names no user (a real image runs as the image's own user; the sandbox runs everything
 * as root and ignores `runAsUser`).
 */
export const serverUserArgs = (): ReadonlyArray<string> => (process.getuid?.() === 0 ? ["--user=root"] : [])

/** Starts `binary --defaults-file=<defaultsFile> [args…]` for the lifetime of the scope. */
export const superviseServer = Effect.fn("InstanceManager.superviseServer")(function* (options: {
  readonly binary: string
  readonly defaultsFile: string
  /** More options after `--defaults-file` (which must come first). */
  readonly args?: ReadonlyArray<string>
  readonly shutdownTimeoutMillis: number
}) {
  // --defaults-file must be the first option (docs/measurements.md, "MariaDB throwaway instances")
  const child = yield* spawnChild(
    options.binary,
    [`--defaults-file=${options.defaultsFile}`, ...(options.args ?? [])],
    {
      stdout: "pipe",
      stderr: "pipe",
      // SIGTERM is a clean shutdown for both servers
      stop: { signal: "SIGTERM", grace: options.shutdownTimeoutMillis },
      name: "database server"
    }
  ).pipe(Effect.mapError(() => new ServerProcessExited({ binary: options.binary, exitCode: 127, signal: null })))
  const exited = child.closed.pipe(
    Effect.flatMap(() =>
      Effect.fail(
        new ServerProcessExited({
          binary: options.binary,
          exitCode: child.process.exitCode,
          signal: child.process.signalCode
        })
      )
    ),
    Effect.cached
  )
  yield* logLines(child.stdout, options.binary)
  yield* logLines(child.stderr, options.binary)
  yield* Effect.logInfo("database server started", { binary: options.binary, pid: child.pid })
  const server: SupervisedServer = {
    pid: child.pid,
    alive: child.running,
    exited: yield* exited
  }
  return server
})
