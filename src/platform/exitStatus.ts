/**
 * The project's one exit-status convention for child processes, the one shells use: the exit code, or 128 plus
 * the number of the signal that ended the process (SIGINT 130, SIGKILL 137, SIGTERM 143). Node reports either a
 * code or a signal; were it ever to report neither, the result is 128, never a success.
 *
 * @since 0.1.0
 */
import { constants } from "node:os"

/** The exit status of a process that ended with `code` or was killed by `signal`. */
export const exitStatus = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0))
