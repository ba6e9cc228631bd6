/**
 * The one way the code starts and stops a child process (docs/design.md, "Child processes").
 *
 * - **Start.** `spawnChild` spawns and attaches every listener in the same tick: the start outcome ('spawn' or
 *   'error', a typed `SpawnFailed`), the exit, and the piped outputs. Node discards what a child wrote to a pipe
 *   nobody reads yet once the child has exited (it resumes the pipe into the void), so a reader that starts a
 *   turn of the event loop late (a forked fiber on a loaded machine) would see an empty stderr from a tool that
 *   failed fast. Every piped output is therefore taken into a `PassThrough` at spawn: it holds the bytes, with
 *   backpressure, until the caller reads them, whenever that is.
 * - **Outcome.** `closed` is the exit status (`platform/exitStatus.ts`) once the child exited *and* the caller
 *   has read each piped output to its end: a response fed from stdout is complete by then.
 * - **Stop.** When the scope closes (or on `stop`): a polite signal, a grace period on the `Clock`, then SIGKILL.
 *   Which polite signal is the tool's business: mariabackup ignores SIGTERM (SIGINT stops it), a server shuts
 *   down cleanly on SIGTERM, an extractor fed a failed download gets SIGKILL at once (EOF would look like a
 *   complete stream). Its stdout is destroyed with the signal, so a tool blocked writing into a pipe nobody reads
 *   sees EPIPE instead of waiting forever.
 *
 * Run-to-completion commands whose whole output is small (`execFile`) do not race and stay with their callers.
 *
 * @since 0.1.0
 */
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process"
import { PassThrough, type Readable, type Writable } from "node:stream"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Data, Deferred, type Duration, Effect, Option, type Scope, Stream } from "effect"
import { exitStatus } from "./exitStatus.ts"

/** Whether the child has exited (with a code or by a signal). */
export const hasExited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null

const exitEvent = (child: ChildProcess): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (hasExited(child)) return resume(Effect.void)
    const onExit = () => resume(Effect.void)
    child.once("exit", onExit)
    return Effect.sync(() => child.off("exit", onExit))
  })

/** Whether the child exits within `timeout`. */
export const waitForExit = (child: ChildProcess, timeout: Duration.Input): Effect.Effect<boolean> =>
  exitEvent(child).pipe(Effect.timeoutOption(timeout), Effect.map(Option.isSome))

/** How a child is stopped: `signal` first, SIGKILL when it still runs after `grace`. */
export interface StopRule {
  readonly signal: NodeJS.Signals
  readonly grace: Duration.Input
}

/**
 * Sends `signal`; if the child is still running after `grace`, SIGKILL, and waits up to 10 s for the exit.
 * `name` (e.g. "backup tool") names the child in the warnings.
 */
export const stopChild = (child: ChildProcess, rule: StopRule, name = "child process"): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (hasExited(child) || child.pid === undefined) return
    yield* Effect.logWarning(`stopping ${name}`, { pid: child.pid, signal: rule.signal })
    child.kill(rule.signal)
    // a child blocked writing into a pipe nobody reads must see EPIPE rather than wait forever
    child.stdout?.destroy()
    if (rule.signal === "SIGKILL" || (yield* waitForExit(child, rule.grace))) {
      yield* waitForExit(child, "10 seconds")
      return
    }
    yield* Effect.logWarning(`${name} ignored ${rule.signal}`, { pid: child.pid, signal: "SIGKILL" })
    child.kill("SIGKILL")
    yield* waitForExit(child, "10 seconds")
  })

/** The binary could not be started (ENOENT, EACCES, …). */
export class SpawnFailed extends Data.TaggedError("SpawnFailed")<{
  readonly command: string
  readonly detail: string
}> {
  override get message(): string {
    return `cannot start ${this.command}: ${this.detail}`
  }
}

type Stdio = "ignore" | "pipe" | "inherit"

/** What `spawnChild` needs beyond the command line. */
export interface ChildOptions {
  readonly stdin?: Stdio
  readonly stdout?: Stdio
  readonly stderr?: Stdio
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
  /** How the scope's release stops a child that still runs. */
  readonly stop: StopRule
  /** Names the child in the stop warnings. */
  readonly name?: string
}

type IfPiped<S, A> = S extends "pipe" ? A : null

/** A running child process; `stdin`, `stdout` and `stderr` exist when piped. */
export interface Child<O extends ChildOptions = ChildOptions> {
  readonly process: ChildProcess
  readonly pid: number
  /** EPIPE after an early exit is swallowed: the exit status reports it. */
  readonly stdin: IfPiped<O["stdin"], Writable>
  /** Piped outputs, held from the first byte until read (see the module comment). */
  readonly stdout: IfPiped<O["stdout"], Readable>
  readonly stderr: IfPiped<O["stderr"], Readable>
  /** The exit status once the child exited and each piped output was read to its end. */
  readonly closed: Effect.Effect<number>
  /** Whether the child still runs. */
  readonly running: () => boolean
  /** The stop rule, now (the scope's release does the same and then has nothing left to do). */
  readonly stop: Effect.Effect<void>
}

/** Resolves when `readable` ended or was destroyed. */
const drained = (readable: Readable): Promise<void> =>
  new Promise((resolve) => {
    if (readable.readableEnded || readable.destroyed) return resolve()
    readable.once("end", () => resolve())
    readable.once("close", () => resolve())
  })

/** Takes a piped output into a `PassThrough` now, before any byte can be discarded. */
const hold = (output: Readable | null): Readable | null => {
  if (output === null) return null
  const held = new PassThrough()
  output.pipe(held)
  // a destroyed pipe (stop) ends what was held, so a reader does not wait for bytes that cannot come
  output.once("close", () => {
    if (!held.writableEnded) held.end()
  })
  return held
}

/** Starts `command args` for the lifetime of the scope; fails with `SpawnFailed` when it cannot start. */
export const spawnChild = <const O extends ChildOptions>(
  command: string,
  args: ReadonlyArray<string>,
  options: O
): Effect.Effect<Child<O>, SpawnFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const started = yield* Deferred.make<void, SpawnFailed>()
    const exited = yield* Deferred.make<number>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const spawnOptions: SpawnOptions = {
          stdio: [options.stdin ?? "ignore", options.stdout ?? "ignore", options.stderr ?? "ignore"],
          ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
          ...(options.env === undefined ? {} : { env: options.env })
        }
        const process = spawn(command, [...args], spawnOptions)
        process.once("spawn", () => Deferred.doneUnsafe(started, Effect.void))
        // later 'error's (a failed kill) must not crash the process; the exit status tells what happened
        process.on("error", (error) =>
          Deferred.doneUnsafe(started, Effect.fail(new SpawnFailed({ command, detail: error.message })))
        )
        process.once("exit", (code, signal) => Deferred.doneUnsafe(exited, Effect.succeed(exitStatus(code, signal))))
        process.stdin?.on("error", () => undefined)
        return { process, stdout: hold(process.stdout), stderr: hold(process.stderr) }
      }),
      ({ process }) => stopChild(process, options.stop, options.name)
    )
    yield* Deferred.await(started)
    const { process } = child
    const outputs = [child.stdout, child.stderr].filter((output) => output !== null)
    const spawned = {
      process,
      pid: process.pid ?? -1,
      stdin: process.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      closed: Effect.flatMap(Deferred.await(exited), (status) =>
        Effect.as(
          Effect.promise(() => Promise.all(outputs.map(drained))),
          status
        )
      ),
      running: () => !hasExited(process),
      stop: stopChild(process, options.stop, options.name)
    }
    // the stdio array above follows `options`, so each stream exists exactly when its type says it does
    return spawned as Child<O>
  })

/**
 * The lines of a child's piped output (UTF-8, without their line ends, the last one even without a newline).
 * A read error of a pipe we own only ends the lines early, with a warning: the exit status decides the outcome.
 */
export const outputLines = (output: Readable): Stream.Stream<string> =>
  NodeStream.fromReadable<Uint8Array, unknown>({ evaluate: () => output, onError: (error) => error }).pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.ignore({ log: "Warn" })
  )

/** A child's whole piped output as text, keeping only the last `keepChars` characters when given. */
export const outputText = (output: Readable, keepChars = Number.POSITIVE_INFINITY): Effect.Effect<string> =>
  Effect.callback<string>((resume) => {
    let text = ""
    output.setEncoding("utf8")
    output.on("data", (chunk: string) => {
      text = text.length + chunk.length > keepChars ? (text + chunk).slice(-keepChars) : text + chunk
    })
    output.once("end", () => resume(Effect.succeed(text)))
    output.once("close", () => resume(Effect.succeed(text)))
  })
