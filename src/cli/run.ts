/**
 * Running one subcommand as a process: JSON-lines logging on stdout, SIGINT/SIGTERM interrupt the program
 * (its finalizers run: uploads are aborted, child processes killed), and the outcome is written as a small
 * JSON termination message (Kubernetes' `terminationMessagePath`) before the exit code is set. The message's
 * shapes are the `TerminationMessage` Schemas of `src/api/jobs.ts`.
 *
 * - success: the program's result object, exit code 0;
 * - a taxonomy failure (`src/api/failures.ts`): `{ reason, message }` with its stable reason, exit code 1;
 * - a defect (or an error outside the taxonomy, which the types rule out): `{ reason: "InternalError", message }`,
 *   exit code 1;
 * - interrupted by a signal: `{ reason: "Interrupted", message }`, exit code 130.
 *
 * @since 0.1.0
 */
import { writeFileSync } from "node:fs"
import { Cause, Effect, Exit, Layer, Logger, References } from "effect"
import { type Failure, isFailure } from "../api/failures.ts"
import type { FailureMessage } from "../api/jobs.ts"
import { runUntilSignalled } from "../platform/signals.ts"

/** Where Kubernetes reads a container's termination message by default. */
export const DefaultTerminationMessagePath = "/dev/termination-log"

/** Kubernetes keeps at most 4096 bytes of a termination message. */
const maxMessageBytes = 4096

/** One JSON object per log line on stdout, info and above. */
export const JsonLogging = Layer.mergeAll(
  Logger.layer([Logger.consoleJson]),
  Layer.succeed(References.MinimumLogLevel, "Info")
)

/** The termination message of a failure (see the module comment). */
export const describeFailure = (cause: Cause.Cause<unknown>): FailureMessage => {
  if (Cause.hasInterruptsOnly(cause)) return { reason: "Interrupted", message: "interrupted by a signal" }
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") {
    const e = error.value
    if (isFailure(e)) return { reason: e._tag, message: e.message }
    // the program's error type is `Failure`; anything else got past the types and is a bug
    const tag = typeof e === "object" && e !== null && "_tag" in e ? `${String(e._tag)}: ` : ""
    return { reason: "InternalError", message: `${tag}${e instanceof Error ? e.message : String(e)}` }
  }
  return { reason: "InternalError", message: Cause.pretty(cause).split("\n").slice(0, 3).join(" ") }
}

/** Writes the termination message, truncating an overlong message field; a failed write is only logged. */
export const writeTerminationMessage = (path: string, value: object): Effect.Effect<void> =>
  Effect.gen(function* () {
    let text = JSON.stringify(value)
    if (Buffer.byteLength(text) > maxMessageBytes && "message" in value) {
      const message = String((value as FailureMessage).message).slice(0, 2000)
      text = JSON.stringify({ ...value, message })
    }
    yield* Effect.try({
      try: () => writeFileSync(path, `${text}\n`),
      catch: (error) => error
    }).pipe(
      Effect.catch((error) =>
        Effect.logWarning("cannot write the termination message").pipe(
          Effect.annotateLogs({ path, error: String(error) })
        )
      )
    )
  })

/**
 * Runs `program` as the process's one job and resolves with the exit code to use. `terminationPath` is
 * evaluated first (it usually comes from the same configuration the program reads).
 */
export const runCommand = <A extends object, E extends Failure>(
  program: Effect.Effect<A, E>,
  terminationPath: string
): Promise<number> =>
  Effect.runPromise(
    Effect.gen(function* () {
      // only the program is interrupted: the termination message is still written afterwards
      const exit = yield* runUntilSignalled(program)
      if (Exit.isSuccess(exit)) {
        yield* writeTerminationMessage(terminationPath, exit.value)
        return 0
      }
      const failure = describeFailure(exit.cause)
      yield* Effect.logError("failed").pipe(Effect.annotateLogs({ reason: failure.reason, detail: failure.message }))
      yield* writeTerminationMessage(terminationPath, failure)
      return failure.reason === "Interrupted" ? 130 : 1
    }).pipe(Effect.provide(JsonLogging))
  )
