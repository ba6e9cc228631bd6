import type { Readable } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnChild } from "../../src/platform/childProcess.ts"

const readAll = (readable: Readable) =>
  Effect.callback<string>((resume) => {
    let text = ""
    readable.setEncoding("utf8")
    readable.on("data", (chunk: string) => {
      text += chunk
    })
    readable.once("end", () => resume(Effect.succeed(text)))
  })

/** Resolves after the child's exit and a few event-loop turns: Node has flushed its unread pipes by then. */
const afterExit = (child: { readonly process: NodeJS.EventEmitter; readonly running: () => boolean }) =>
  Effect.callback<void>((resume) => {
    const later = () => {
      setTimeout(() => resume(Effect.void), 100)
    }
    if (child.running()) child.process.once("exit", later)
    else later()
  })

describe("spawnChild", () => {
  it.live("keeps what a child wrote before exiting until the caller reads it, however late", () =>
    Effect.gen(function* () {
      const child = yield* spawnChild("sh", ["-c", "echo out; echo 'Access denied' >&2; exit 3"], {
        stdout: "pipe",
        stderr: "pipe",
        stop: { signal: "SIGTERM", grace: "1 second" }
      })
      yield* afterExit(child)
      const [stdout, stderr] = yield* Effect.all([readAll(child.stdout), readAll(child.stderr)], {
        concurrency: 2
      })
      assert.strictEqual(stdout, "out\n")
      assert.strictEqual(stderr, "Access denied\n")
      assert.strictEqual(yield* child.closed, 3)
    }).pipe(Effect.scoped)
  )

  it.live("closed waits until the caller has read stdout to its end", () =>
    Effect.gen(function* () {
      const child = yield* spawnChild("sh", ["-c", "head -c 1048576 /dev/zero"], {
        stdout: "pipe",
        stop: { signal: "SIGTERM", grace: "1 second" }
      })
      const early = yield* child.closed.pipe(Effect.timeoutOption("300 millis"))
      assert.strictEqual(early._tag, "None", "1 MiB does not fit in the pipe and the held buffer unread")
      let bytes = 0
      child.stdout.on("data", (chunk: Buffer) => {
        bytes += chunk.length
      })
      assert.strictEqual(yield* child.closed, 0)
      assert.strictEqual(bytes, 1048576)
    }).pipe(Effect.scoped)
  )

  it.live("a binary that cannot start is SpawnFailed", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        spawnChild("/nonexistent/tool", [], { stop: { signal: "SIGTERM", grace: "1 second" } })
      )
      assert.strictEqual(error._tag, "SpawnFailed")
      assert.include(error.message, "cannot start /nonexistent/tool")
      assert.include(error.message, "ENOENT")
    }).pipe(Effect.scoped)
  )

  it.live("the stop rule: the polite signal, then SIGKILL for a child that ignores it", () =>
    Effect.gen(function* () {
      const child = yield* spawnChild("sh", ["-c", "trap '' INT; echo ready; while true; do sleep 0.05; done"], {
        stdout: "pipe",
        stop: { signal: "SIGINT", grace: "300 millis" }
      })
      yield* Effect.callback<void>((resume) => {
        child.stdout.once("data", () => resume(Effect.void))
      })
      const started = Date.now()
      yield* child.stop
      assert.isFalse(child.running())
      assert.strictEqual(child.process.signalCode, "SIGKILL")
      assert.isAtLeast(Date.now() - started, 250)
    }).pipe(Effect.scoped)
  )
})
