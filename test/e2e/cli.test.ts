/**
 * The executable's dispatch and its configuration failures, as processes: exit codes, usage text, and the
 * termination message a Kubernetes controller would read.
 */

import { spawnSync } from "node:child_process"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  decodeRestoreTerminationMessage,
  isFailureMessage,
  RestoreEnv,
  WorkerEnv,
  WorkerTerminationMessage
} from "../../src/api/jobs.ts"
import { dataMoverNodeFlags, dataMovers } from "../../src/cli/nodeFlags.ts"
import { InstanceManagerEnv } from "../../src/instance/config.ts"
import { executable, runSubcommand, terminationFailure } from "../../src/sandbox/processes.ts"

const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [executable, ...args], { env: { ...process.env, ...env }, encoding: "utf8" })

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-cli-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

describe("cloudnative-mysql", () => {
  it("--help prints the subcommands and exits 0; no subcommand is a usage error", () => {
    const help = cli(["--help"])
    assert.strictEqual(help.status, 0)
    for (const sub of ["instance", "backup", "restore", "controller"]) assert.include(help.stdout, sub)
    assert.strictEqual(cli([]).status, 2)
  })

  it("each subcommand's --help is generated from its contract: every variable it reads, every flag", () => {
    for (const [sub, fields] of [
      ["backup", WorkerEnv.fields],
      ["restore", RestoreEnv.fields],
      ["instance", InstanceManagerEnv.fields]
    ] as const) {
      const help = cli([sub, "--help"])
      assert.strictEqual(help.status, 0, help.stderr)
      for (const name of Object.keys(fields)) assert.include(help.stdout, name)
    }
    assert.include(cli(["instance", "--help"]).stdout, "--api-port")
  })

  it("an unknown flag is a usage error", () => {
    const out = cli(["instance", "--no-such-flag=1"])
    assert.strictEqual(out.status, 2)
    assert.include(out.stderr, "--no-such-flag")
  })

  it("an unknown subcommand exits 2 with the usage", () => {
    const out = cli(["frobnicate"])
    assert.strictEqual(out.status, 2)
    // the wording is effect/cli's ("Unknown subcommand \"frobnicate\" for ...")
    assert.match(out.stderr, /unknown subcommand "frobnicate"/iu)
  })

  it("controller without any Kubernetes configuration fails fast, naming what it looked for", () => {
    const out = cli(["controller", "--probe-address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0"], {
      KUBECONFIG: "",
      KUBERNETES_SERVICE_HOST: "",
      HOME: "/nonexistent"
    })
    assert.notStrictEqual(out.status, 0)
    assert.include(out.stdout, "no Kubernetes configuration")
  })

  it.live("backup without its configuration: exit 1, InvalidConfiguration naming the variable", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const run = yield* runSubcommand("backup", { workDir: dir, env: { BACKUP_NAMESPACE: "" } })
      assert.strictEqual(run.exitCode, 1)
      const message = yield* terminationFailure(WorkerTerminationMessage, run)
      assert.strictEqual(message.reason, "InvalidConfiguration")
      assert.include(message.message, "BACKUP_NAMESPACE")
      // the failure is also a JSON log line
      const lines = run.stdout.trim().split("\n")
      assert.strictEqual((JSON.parse(lines.at(-1) ?? "{}") as { level?: string }).level, "ERROR")
    })
  )

  it.live("restore with both explicit keys and a source cluster: InvalidConfiguration", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const terminationPath = join(dir, "termination")
      const out = cli(["restore"], {
        TERMINATION_MESSAGE_PATH: terminationPath,
        RESTORE_DATA_DIR: join(dir, "data"),
        RESTORE_SERVER_DEFAULTS_FILE: join(dir, "my.cnf"),
        RESTORE_ARCHIVE_KEY: "a/b/c/20261123T000000Z/backup.xbstream",
        RESTORE_SOURCE_CLUSTER: "c",
        OBJECT_STORE_SPEC: JSON.stringify({ bucket: "b", credentials: { inheritFromIAMRole: true } })
      })
      assert.strictEqual(out.status, 1)
      const message = yield* decodeRestoreTerminationMessage(
        yield* Effect.promise(() => readFile(terminationPath, "utf8"))
      )
      assert.strictEqual(isFailureMessage(message) ? message.reason : "a result", "InvalidConfiguration")
    })
  )

  it.live(
    "the data movers run with their V8 flags (re-executed in place, same pid); the controller with V8's defaults",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        // preloaded into every Node the launcher starts: one line per process image with its pid and flags
        const probe = join(dir, "probe.mjs")
        yield* Effect.promise(() =>
          writeFile(
            probe,
            'process.stderr.write("probe " + JSON.stringify({ pid: process.pid, execArgv: process.execArgv }) + "\\n")\n'
          )
        )
        const images = (nodeArgs: ReadonlyArray<string>, args: ReadonlyArray<string>) => {
          const out = spawnSync(process.execPath, [...nodeArgs, executable, ...args], {
            env: { ...process.env, NODE_OPTIONS: `--import=${probe}` },
            encoding: "utf8"
          })
          assert.strictEqual(out.status, 0, out.stderr)
          return out.stderr
            .split("\n")
            .filter((line) => line.startsWith("probe "))
            .map((line) => JSON.parse(line.slice("probe ".length)) as { pid: number; execArgv: Array<string> })
        }
        for (const subcommand of dataMovers) {
          const [first, relaunched, ...more] = images([], [subcommand, "--help"])
          assert.deepStrictEqual(first?.execArgv, [], subcommand)
          assert.deepStrictEqual(relaunched?.execArgv, [...dataMoverNodeFlags], subcommand)
          assert.strictEqual(relaunched?.pid, first?.pid, subcommand)
          assert.deepStrictEqual(more, [], subcommand)
        }
        // a flag the caller gave wins; only the missing one is added
        const chosen = images(["--max-semi-space-size=1"], ["backup", "--help"])
        assert.deepStrictEqual(
          chosen.map((image) => image.execArgv),
          [["--max-semi-space-size=1"], ["--single-threaded-gc", "--max-semi-space-size=1"]]
        )
        // started with the flags already: no re-exec
        assert.strictEqual(images([...dataMoverNodeFlags], ["restore", "--help"]).length, 1)
        assert.deepStrictEqual(
          images([], ["controller", "--help"]).map((image) => image.execArgv),
          [[]]
        )
      })
  )
})
