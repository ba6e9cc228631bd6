import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { createServer, get, type IncomingMessage } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Scheduler } from "effect"
import { streamBackup } from "../../src/instance/backupSession.ts"
import { mariadb } from "../../src/instance/flavor.ts"
import { decodeBackupOutcome } from "../../src/instance/protocol.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-session-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** Blocks this thread (not the child) so the child is certainly gone before the session reads anything. */
const blockFor = (millis: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, millis)
}

/**
 * A loaded machine: work the runtime defers (a forked fiber's start, a yield) runs 50 ms late, after Node has
 * polled for I/O and child exits, instead of in the same turn of the event loop.
 */
const lateScheduler = new Scheduler.MixedScheduler("async", (f) => {
  const timer = setTimeout(f, 50)
  return () => clearTimeout(timer)
})

/** Serves one `streamBackup` with `tool` as the backup tool on 127.0.0.1 and returns the decoded trailers. */
const backupWith = (tool: string, dir: string, onStarted: (pid: number) => void) =>
  Effect.gen(function* () {
    const server = createServer((_, res) => {
      void Effect.runPromise(
        streamBackup(res, {
          access: {
            flavor: { ...mariadb, backupTool: tool },
            address: { _tag: "Socket", path: join(dir, "no.sock") },
            defaultsFile: join(dir, "none.cnf"),
            runtimeDir: dir
          },
          toolVersion: "stub",
          begin: { beginGtid: "", beginBinlog: null },
          killGraceMillis: 1000,
          secrets: ["s3cr3t"],
          onStarted
        }).pipe(Effect.scoped, Effect.provideService(Scheduler.Scheduler, lateScheduler))
      )
    })
    const port = yield* Effect.acquireRelease(
      Effect.callback<number>((resume) => {
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
        })
      }),
      () => Effect.sync(() => server.close())
    )
    const response = yield* Effect.callback<IncomingMessage>((resume) => {
      get({ host: "127.0.0.1", port, path: "/cluster/backup" }, (res) => resume(Effect.succeed(res)))
    })
    const body = yield* Effect.callback<number>((resume) => {
      let bytes = 0
      response.on("data", (chunk: Buffer) => {
        bytes += chunk.length
      })
      response.once("end", () => resume(Effect.succeed(bytes)))
    })
    const outcome = yield* decodeBackupOutcome(response.trailers)
    return { body, outcome }
  })

describe("backup session", () => {
  it.live(
    "a tool that fails and exits before the session reads its stderr still has its last lines in the outcome",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const tool = join(dir, "denied-backup")
        yield* Effect.promise(() =>
          writeFile(
            tool,
            `#!/bin/sh
echo "[00] Connecting to server host: localhost" >&2
echo "[00] Failed to connect to MariaDB server: Access denied for user 'backup'@'localhost' (password s3cr3t)" >&2
exit 1
`,
            { mode: 0o755 }
          )
        )
        // the session learns the pid right after spawn; holding the thread here lets the tool write, exit and be
        // reaped, so Node has discarded any output nobody was reading yet: the ordering the flaky worker test hit
        const { body, outcome } = yield* backupWith(tool, dir, () => blockFor(300))
        assert.strictEqual(body, 0)
        assert.strictEqual(outcome.exitCode, 1)
        assert.isFalse(outcome.completedOk)
        assert.include(outcome.error, "Access denied for user 'backup'")
        assert.include(outcome.error, "Connecting to server host")
        assert.notInclude(outcome.error, "s3cr3t")
      }).pipe(Effect.scoped)
  )
})
