/**
 * The V8 flags the data movers run with, applied in one place: the launcher (`bin/cloudnative-mysql.js`) calls
 * `relaunchWithNodeFlags` before it loads anything else, and a data mover started without the flags replaces
 * itself (`execve`: same pid, same stdio, same environment, nothing left behind) with `node <flags> <same
 * arguments>`. So every way the executable is started gets them: the images' entrypoints, the Job and Pod
 * commands (`cloudnative-mysql backup`), the sandbox's launchers, the benchmarks, a user's `docker run`.
 *
 * Why a re-exec: `--single-threaded-gc` takes effect only on the node command line (`NODE_OPTIONS` rejects it,
 * `v8.setFlagsFromString` at start is too late: the GC threads exist by then), and keeping the flags in the
 * launcher means no Dockerfile, render or sandbox table repeats them. The cost is one bare Node start per
 * process (0.03–0.15 CPU-s on the development machine).
 *
 * - `--single-threaded-gc`: no parallel scavenger, no concurrent marking threads. The movers allocate a Buffer
 *   per socket or pipe read (GiB of short-lived garbage); on a contended or CPU-limited core V8's helper
 *   threads spend CPU waiting for one another (docs/performance.md, rounds 2 and 3: the worker ~10.3 → ~8.2,
 *   the instance manager ~6.1 → ~5.0 CPU-s/GiB).
 * - `--max-semi-space-size=2`: a 2 MiB young generation frees those buffers in cheap minor collections instead
 *   of full ones walking the whole heap (bench/download.ts: ~1 CPU-s less per GiB).
 *
 * The controller and `abort-uploads` keep V8's defaults: they move no bytes, and the controller holds caches of
 * the cluster's objects whose full collections would grow longer with single-threaded marking.
 *
 * @since 0.1.0
 */

/** The flags of the data movers' Node (each also accepted when the caller gave it with another value). */
export const dataMoverNodeFlags: ReadonlyArray<string> = ["--single-threaded-gc", "--max-semi-space-size=2"]

/** The subcommands that stream bytes: backups, restores, binlogs. */
export const dataMovers: ReadonlySet<string> = new Set(["instance", "backup", "restore", "archive-binlogs"])

const flagName = (flag: string): string => flag.split("=")[0] ?? flag

/** The data movers' flags that `execArgv` does not set (by name: a value the caller chose wins). */
const missingNodeFlags = (execArgv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const given = new Set(execArgv.map(flagName))
  return dataMoverNodeFlags.filter((flag) => !given.has(flagName(flag)))
}

/**
 * Replaces this process with the same command line plus the data movers' flags when `process.argv` names a
 * data mover and some flag is missing; returns otherwise (the relaunched process returns here too).
 */
export const relaunchWithNodeFlags = (): void => {
  const [script, subcommand] = process.argv.slice(1)
  if (script === undefined || subcommand === undefined || !dataMovers.has(subcommand)) return
  const missing = missingNodeFlags(process.execArgv)
  if (missing.length === 0 || process.execve === undefined) return
  process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)])
}
