/**
 * Supervision of the database server when the instance manager is the Pod's PID 1: starts `mariadbd`/`mysqld`
 * with the given option file, logs its output line by line, and on shutdown sends SIGTERM (a clean shutdown for
 * both servers) and waits. If the server dies on its own, `exited` fails so the instance manager exits non-zero
 * and Kubernetes restarts the container: we do not restart a crashed server behind the kubelet's back.
 *
 * @since 0.1.0
 */
import { spawn } from "node:child_process"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Data, Deferred, Effect, Stream } from "effect"

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

const logLines = (readable: NodeJS.ReadableStream, source: string) =>
  NodeStream.fromReadable<Uint8Array, Error>({ evaluate: () => readable, onError: (e) => new Error(String(e)) }).pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.runForEach((line) => (line.trim() === "" ? Effect.void : Effect.logInfo(line))),
    Effect.annotateLogs({ source }),
    Effect.ignore,
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
  const exited = yield* Deferred.make<never, ServerProcessExited>()
  let running = true
  const child = yield* Effect.acquireRelease(
    Effect.sync(() => {
      // --defaults-file must be the first option (docs/measurements.md, "MariaDB throwaway instances")
      const process = spawn(options.binary, [`--defaults-file=${options.defaultsFile}`, ...(options.args ?? [])], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      const fail = (exitCode: number | null, signal: string | null) => {
        running = false
        Deferred.doneUnsafe(exited, Effect.fail(new ServerProcessExited({ binary: options.binary, exitCode, signal })))
      }
      process.once("exit", (code, signal) => fail(code, signal))
      process.once("error", () => fail(null, null))
      return process
    }),
    (process) =>
      Effect.gen(function* () {
        if (!running) return
        yield* Effect.logInfo("stopping database server", { pid: process.pid })
        process.kill("SIGTERM")
        const stopped = yield* Deferred.await(exited).pipe(
          Effect.timeout(options.shutdownTimeoutMillis),
          Effect.match({ onFailure: (e) => e._tag === "ServerProcessExited", onSuccess: () => true })
        )
        if (!stopped) {
          yield* Effect.logError("database server did not stop in time; killing it", { pid: process.pid })
          process.kill("SIGKILL")
        }
      })
  )
  yield* logLines(child.stdout, options.binary)
  yield* logLines(child.stderr, options.binary)
  yield* Effect.logInfo("database server started", { binary: options.binary, pid: child.pid })
  const server: SupervisedServer = {
    pid: child.pid ?? -1,
    alive: () => running,
    exited: Deferred.await(exited)
  }
  return server
})
