/**
 * Running the restore's external tools (extractor, `--prepare`, `--copy-back`, a temporary server) as child
 * processes: optional stdin fed from a byte stream with backpressure, stderr captured line by line (kept as
 * a short tail for error messages and logged as JSON), the exit code returned rather than raised.
 *
 * **A failed input never reaches the child as end of input.** When the stdin stream fails (e.g. a
 * `ChecksumMismatch` from the verified download), the child is killed with SIGKILL instead of getting EOF:
 * `mbstream -x` exits 0 on a stream cut at a chunk boundary, so EOF would look like success.
 *
 * @since 0.1.0
 */
import type { Writable } from "node:stream"
import { Effect, Fiber, Stream } from "effect"
import { outputLines, spawnChild } from "../platform/childProcess.ts"

/** How a tool run ended. */
export interface ToolResult {
  /** The exit code; `128 + n` when killed by signal `n`; 127 when the binary could not be started. */
  readonly exitCode: number
  /** The last stderr lines (at most `stderrTailLines`). */
  readonly stderrTail: ReadonlyArray<string>
}

/** Options of one tool run. */
export interface ToolOptions<E, R> {
  /** Bytes to write to the child's stdin; without it stdin is `/dev/null`. */
  readonly stdin?: Stream.Stream<Uint8Array, E, R>
  readonly cwd?: string
  /** Stderr lines kept for the result (default 20). */
  readonly stderrTailLines?: number
  /** Log each stderr line at debug level instead of info (for chatty tools). */
  readonly quiet?: boolean
}

/**
 * Writes one batch of chunks as one `writev` (corked), waiting for `drain` when the pipe is full; a closed
 * pipe ends the wait (the exit code decides). One system call and one Effect per batch instead of per chunk.
 */
const writeBatch = (stdin: Writable, chunks: ReadonlyArray<Uint8Array>): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (stdin.destroyed || stdin.writableEnded) return resume(Effect.void)
    stdin.cork()
    let ok = true
    for (const chunk of chunks) ok = stdin.write(chunk)
    stdin.uncork()
    if (ok) return resume(Effect.void)
    const done = () => {
      stdin.off("drain", done)
      stdin.off("close", done)
      stdin.off("error", done)
      resume(Effect.void)
    }
    stdin.once("drain", done)
    stdin.once("close", done)
    stdin.once("error", done)
  })

const endStdin = (stdin: Writable): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (stdin.destroyed || stdin.writableEnded) return resume(Effect.void)
    stdin.once("error", () => resume(Effect.void))
    stdin.end(() => resume(Effect.void))
  })

/**
 * Runs `command args`, feeding `options.stdin`, and returns its exit code and stderr tail. A failure of the
 * stdin stream fails the effect with that error after the child was killed; interruption kills it too.
 */
export const runTool = <E = never, R = never>(
  command: string,
  args: ReadonlyArray<string>,
  options: ToolOptions<E, R> = {}
): Effect.Effect<ToolResult, E, R> =>
  Effect.gen(function* () {
    // killed, never given EOF, when the stdin stream fails or the run is interrupted (see the module comment)
    const spawned = yield* spawnChild(command, args, {
      stdin: options.stdin === undefined ? "ignore" : "pipe",
      stderr: "pipe",
      stop: { signal: "SIGKILL", grace: 0 },
      name: command,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd })
    }).pipe(Effect.result)
    if (spawned._tag === "Failure") {
      return { exitCode: 127, stderrTail: [spawned.failure.message] } satisfies ToolResult
    }
    const child = spawned.success
    const tailLines = options.stderrTailLines ?? 20
    const tail: Array<string> = []
    const log = (line: string) => (options.quiet === true ? Effect.logDebug(line) : Effect.logInfo(line))
    const stderr = yield* outputLines(child.stderr).pipe(
      Stream.runForEach((line) =>
        Effect.suspend(() => {
          tail.push(line)
          if (tail.length > tailLines) tail.shift()
          return log(line)
        })
      ),
      Effect.annotateLogs({ tool: command, stream: "stderr" }),
      Effect.forkScoped
    )
    if (options.stdin !== undefined && child.stdin !== null) {
      const stdin = child.stdin
      yield* Stream.runForEachArray(options.stdin, (chunks) => writeBatch(stdin, chunks))
      yield* endStdin(stdin)
    }
    const exitCode = yield* child.closed
    yield* Fiber.join(stderr)
    return { exitCode, stderrTail: [...tail] } satisfies ToolResult
  }).pipe(Effect.scoped)

/** The stderr tail as one line for an error detail. */
export const describeTail = (result: ToolResult): string =>
  result.stderrTail
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .slice(-5)
    .join(" | ") || "no output"
