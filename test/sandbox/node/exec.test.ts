/**
 * The exec handler of probes and lifecycle hooks (`execInContainer`), against a real process standing in for a
 * container's init (its namespaces are this machine's, so nsenter enters them as it would a container's): the
 * command's exit code and output, and a command that outlives the timeout is reported as timed out and killed.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { execInContainer, type ProbeTarget } from "../../../src/sandbox/node/probes.ts"

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A stand-in container init for the scope, and a probe target on it. */
const container = Effect.acquireRelease(
  Effect.sync(() => spawn("sleep", ["600"], { stdio: "ignore" })),
  (init: ChildProcess) => Effect.sync(() => init.kill("SIGKILL"))
).pipe(
  Effect.map(
    (init): ProbeTarget => ({
      podIP: "127.0.0.1",
      container: { name: "main", image: "none" },
      env: { PATH: "/usr/bin:/bin", GREETING: "hello" },
      uid: 0,
      gid: 0,
      initPid: Effect.succeed(init.pid)
    })
  )
)

describe("execInContainer", () => {
  it.live("runs the command with the container's environment: exit 0 is success, its output the message", () =>
    Effect.gen(function* () {
      const target = yield* container
      const ok = yield* execInContainer(["sh", "-c", 'echo "$GREETING"'], target, 5000)
      assert.deepStrictEqual(ok, { success: true, message: "hello" })
      const failed = yield* execInContainer(["sh", "-c", "echo nope >&2; exit 3"], target, 5000)
      assert.deepStrictEqual(failed, { success: false, message: "nope" })
    }).pipe(Effect.scoped)
  )

  it.live("a command that outlives the timeout fails the attempt as timed out, and is killed", () =>
    Effect.gen(function* () {
      const target = yield* container
      const dir = mkdtempSync(join(tmpdir(), "exec-probe-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const pidFile = join(dir, "pid")
      const result = yield* execInContainer(["sh", "-c", `echo $$ > ${pidFile}; exec sleep 600`], target, 500)
      assert.deepStrictEqual(result, {
        success: false,
        message: `command "sh -c echo $$ > ${pidFile}; exec sleep 600" timed out`
      })
      const pid = Number(readFileSync(pidFile, "utf8").trim())
      assert.isTrue(pid > 0)
      // SIGKILL is delivered at once; the process table may take a moment to drop it
      const gone = yield* Effect.sync(() => alive(pid)).pipe(
        Effect.repeat({ until: (running) => !running, schedule: Schedule.spaced("20 millis"), times: 100 })
      )
      assert.isFalse(gone, `the command (pid ${pid}) still runs after the timeout`)
    }).pipe(Effect.scoped)
  )
})
