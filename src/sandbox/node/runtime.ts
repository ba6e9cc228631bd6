/**
 * The sandbox node's container runtime: one container run = one process tree in its own PID, mount and UTS
 * namespaces, started by `container.sh` (see there for the root filesystem it builds). The command ends up as
 * PID 1 of its namespace, as in a container: a SIGTERM reaches it only if it handles SIGTERM, SIGKILL always.
 *
 * No process outlives the node agent: `setpriv --pdeathsig KILL` makes the kernel SIGKILL the namespace's
 * `unshare` parent when the agent dies (even by SIGKILL), `--kill-child` passes that on to PID 1 (set again by
 * `container.sh` after the switch to the container's user, which clears it), and the death of a PID
 * namespace's init kills every process left in it. The mounts live only in the private mount
 * namespace, so they vanish with it.
 *
 * @since 0.1.0
 */
import { spawn } from "node:child_process"
import { closeSync, openSync, readFileSync } from "node:fs"
import { writeFile } from "node:fs/promises"
import { constants } from "node:os"
import { join } from "node:path"
import { Deferred, Effect } from "effect"

/** The script that builds the container (next to this module). */
export const containerScript = join(import.meta.dirname, "container.sh")

/** One bind mount into the container. */
export interface BindMount {
  readonly source: string
  readonly target: string
  readonly readOnly: boolean
  readonly file: boolean
  /** Part of the image rather than of the Pod: mounted first, so a volume over it hides it as on a cluster. */
  readonly image?: boolean
}

/** Everything one container run needs. */
export interface ContainerLaunch {
  /** The run's private directory (its mount table, setup log, start error, root mount point). */
  readonly dir: string
  readonly hostname: string
  readonly uid: number
  readonly gid: number
  readonly groups: ReadonlyArray<number>
  readonly workingDir: string
  readonly readOnlyRoot: boolean
  readonly argv: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly mounts: ReadonlyArray<BindMount>
  /** stdout and stderr of the container (an `O_APPEND` log file, fd 3 of the runtime); closed here once the child has it. */
  readonly logFd: number
}

/** How a container run ended. */
export interface ContainerExit {
  readonly exitCode: number
  /** Set when the runtime could not start the command (`StartError`). */
  readonly startError: string | undefined
}

/** A started container run. */
export interface ContainerProcess {
  /** PID of the namespace's `unshare` parent (host PID namespace). */
  readonly pid: number
  readonly exited: Effect.Effect<ContainerExit>
  readonly isRunning: Effect.Effect<boolean>
  /** Signals PID 1 of the container. */
  readonly signal: (signal: "SIGTERM" | "SIGKILL") => Effect.Effect<void>
  /** Host PID of the container's PID 1 (for `nsenter`), when it is up. */
  readonly initPid: Effect.Effect<number | undefined>
}

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

const childOf = (pid: number): number | undefined => {
  const children = readText(`/proc/${pid}/task/${pid}/children`)?.trim()
  if (children === undefined || children === "") return undefined
  const first = Number(children.split(/\s+/u)[0])
  return Number.isInteger(first) ? first : undefined
}

/**
 * Whether `unshare`'s own output says PID 1 died of SIGKILL (the runtime's, a probe's, the OOM killer's or anyone
 * else's). `unshare --fork` re-raises the signal that killed its child, but `signal(SIGKILL, SIG_DFL)` fails with
 * EINVAL, so for SIGKILL alone it prints this and exits 1 (util-linux 2.38 `sys-utils/unshare.c`); the
 * container's own output never reaches that log. Kubernetes reports such a container as exit code 137.
 */
const diedOfSigkill = (runtimeLog: string): boolean =>
  runtimeLog.includes("unshare: sigprocmask unblock failed: Invalid argument")

/** Image mounts first, then the rest sorted so a mount point inside another mount is created after it. */
const mountTable = (mounts: ReadonlyArray<BindMount>): string =>
  [
    ...mounts.filter((mount) => mount.image === true),
    ...mounts
      .filter((mount) => mount.image !== true)
      .sort((a, b) => a.target.split("/").length - b.target.split("/").length)
  ]
    .map((mount) => [mount.file ? "file" : "dir", mount.readOnly ? "ro" : "rw", mount.source, mount.target].join("\t"))
    .join("\n")
    .concat("\n")

/** Starts one container run. */
export const launchContainer = (launch: ContainerLaunch): Effect.Effect<ContainerProcess> =>
  Effect.gen(function* () {
    yield* Effect.promise(() => writeFile(join(launch.dir, "mounts"), mountTable(launch.mounts)))
    const exited = yield* Deferred.make<ContainerExit>()
    let running = true
    const groups = launch.groups.length > 0 ? launch.groups : [launch.gid]
    const runtimeLog = openSync(join(launch.dir, "runtime.log"), "a")
    const child = spawn(
      "/usr/bin/setpriv",
      [
        "--pdeathsig",
        "KILL",
        "/usr/bin/unshare",
        "--pid",
        "--fork",
        "--kill-child=KILL",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "/bin/sh",
        containerScript,
        launch.dir,
        launch.hostname,
        String(launch.uid),
        String(launch.gid),
        [...new Set(groups)].join(","),
        launch.workingDir,
        launch.readOnlyRoot ? "ro" : "rw",
        "--",
        ...launch.argv
      ],
      // the runtime's own messages (unshare's, the setup's) go to its directory; the container's to fd 3
      { env: { ...launch.env }, stdio: ["ignore", runtimeLog, runtimeLog, launch.logFd] }
    )
    closeSync(launch.logFd)
    closeSync(runtimeLog)
    const done = (exitCode: number) => {
      running = false
      const startError = readText(join(launch.dir, "start-error"))?.trim()
      Deferred.doneUnsafe(
        exited,
        Effect.succeed({
          exitCode:
            exitCode === 1 && diedOfSigkill(readText(join(launch.dir, "runtime.log")) ?? "")
              ? 128 + constants.signals.SIGKILL
              : exitCode,
          startError: startError === undefined || startError === "" ? undefined : startError
        })
      )
    }
    child.once("error", (error) => {
      running = false
      Deferred.doneUnsafe(exited, Effect.succeed({ exitCode: 128, startError: error.message }))
    })
    child.once("exit", (code, signal) => {
      if (code !== null) done(code)
      else done(128 + (signal === null ? constants.signals.SIGABRT : constants.signals[signal]))
    })
    const pid = child.pid ?? 0
    const initPid = Effect.sync(() => (running ? childOf(pid) : undefined))
    return {
      pid,
      exited: Deferred.await(exited),
      isRunning: Effect.sync(() => running),
      initPid,
      signal: (signal) =>
        Effect.gen(function* () {
          if (!running) return
          const init = yield* initPid
          try {
            if (init !== undefined) process.kill(init, signal)
            else if (signal === "SIGKILL") process.kill(pid, "SIGKILL")
          } catch {
            // already gone: the exit event follows
          }
        })
    }
  })
