import { type ChildProcess, execFile, spawn } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { get } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { getStatus } from "../../src/instance/client.ts"
import { flagsToEnv, loadInstanceManagerConfig } from "../../src/instance/config.ts"
import { instanceProgram } from "../../src/instance/main.ts"
import { backupUser, prepareMariadb } from "../../src/sandbox/mariadb.ts"
import { makePki, processExists } from "./support.ts"

const required = {
  BACKUP_PASSWORD_FILE: "/run/secrets/backup/password",
  TLS_CA_FILE: "/tls/ca.crt",
  TLS_CERT_FILE: "/tls/tls.crt",
  TLS_KEY_FILE: "/tls/tls.key"
}

describe("instance manager configuration", () => {
  it.effect("applies defaults, lets flags override the environment, and rejects bad values", () =>
    Effect.gen(function* () {
      const config = yield* loadInstanceManagerConfig({ ...required, API_PORT: "9443" }, [
        "--api-port=10443",
        "--mysql-socket=/run/mysqld/mysqld.sock"
      ])
      assert.strictEqual(config.FLAVOR, "mariadb")
      assert.strictEqual(config.API_PORT, 10443)
      assert.strictEqual(config.PROBE_PORT, 8000)
      assert.strictEqual(config.MYSQL_SOCKET, "/run/mysqld/mysqld.sock")
      assert.strictEqual(config.BACKUP_KILL_GRACE_SECONDS, 10)
      const badPort = yield* Effect.flip(loadInstanceManagerConfig({ ...required, API_PORT: "99999" }, []))
      assert.isTrue(Schema.isSchemaError(badPort))
      assert.include(badPort.message, "API_PORT")
      const missing = yield* Effect.flip(loadInstanceManagerConfig({}, []))
      assert.include(missing.message, "BACKUP_PASSWORD_FILE")
      const unknown = yield* Effect.flip(loadInstanceManagerConfig(required, ["--no-such-flag=1", "stray"]))
      assert.strictEqual(unknown._tag, "InvalidFlags")
      assert.deepStrictEqual(flagsToEnv(["--kill=x=y", "stray"]), { KILL: "x=y" })
      assert.include(unknown.message, "--no-such-flag=1")
    })
  )

  it.live("a TLS or password file that cannot be read is InvalidConfiguration naming the file", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-im-config-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
      )
      const missing = join(dir, "no-such-ca.crt")
      const failure = yield* Effect.flip(
        instanceProgram([], { ...required, TLS_CA_FILE: missing, BACKUP_PASSWORD_FILE: missing })
      )
      assert.strictEqual(failure._tag, "InvalidConfiguration")
      assert.include(failure.message, missing)
    })
  )
})

interface Running {
  readonly child: ChildProcess
  readonly lines: Array<string>
  readonly exit: Promise<number | null>
}

const runManager = (env: Record<string, string>): Running => {
  const child = spawn(process.execPath, [join(import.meta.dirname, "fixtures", "instanceMain.ts")], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines: Array<string> = []
  let partial = ""
  child.stdout.on("data", (chunk: Buffer) => {
    const parts = (partial + chunk.toString("utf8")).split("\n")
    partial = parts.pop() ?? ""
    lines.push(...parts)
  })
  child.stderr.on("data", (chunk: Buffer) => lines.push(chunk.toString("utf8")))
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return { child, lines, exit }
}

/** The annotations object of the first JSON log line whose message starts with `text`. */
const logged = (lines: ReadonlyArray<string>, text: string): Record<string, unknown> | undefined => {
  for (const line of lines) {
    try {
      const entry = JSON.parse(line) as { message: unknown }
      const message = Array.isArray(entry.message) ? entry.message : [entry.message]
      if (message[0] === text) return (message[1] ?? {}) as Record<string, unknown>
    } catch {}
  }
  return undefined
}

const waitFor = <A>(f: () => A | undefined, millis: number, what: string) =>
  Effect.gen(function* () {
    const deadline = Date.now() + millis
    for (;;) {
      const value = f()
      if (value !== undefined) return value
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("100 millis")
    }
  })

const probe = (port: number, path: string) =>
  Effect.promise(
    () =>
      new Promise<number>((resolve) => {
        get({ host: "127.0.0.1", port, path }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        }).on("error", () => resolve(0))
      })
  )

const sql = (defaultsFile: string, statement: string) =>
  Effect.promise(
    () =>
      new Promise<boolean>((resolve) =>
        execFile("mariadb", [`--defaults-file=${defaultsFile}`, "-e", statement], (error) => resolve(error === null))
      )
  )

describe("instance manager process supervising mariadbd", () => {
  it.live(
    "starts the server, becomes ready, serves status, and on SIGTERM stops the server; exits non-zero when the server dies",
    () =>
      Effect.gen(function* () {
        const db = yield* prepareMariadb()
        const pki = yield* makePki
        const dir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "cnm-main-"))),
          (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
        )
        const files = {
          ca: join(dir, "ca.crt"),
          cert: join(dir, "tls.crt"),
          key: join(dir, "tls.key"),
          password: join(dir, "password")
        }
        yield* Effect.promise(() =>
          Promise.all([
            writeFile(files.ca, pki.ca.certificate),
            writeFile(files.cert, pki.server.certificate),
            writeFile(files.key, pki.server.privateKey),
            writeFile(files.password, `${backupUser.password}\n`)
          ])
        )
        const env = {
          LISTEN_ADDRESS: "127.0.0.1",
          PROBE_PORT: "0",
          API_PORT: "0",
          MYSQL_SOCKET: db.socket,
          MYSQLD_DEFAULTS_FILE: db.defaultsFile,
          BACKUP_PASSWORD_FILE: files.password,
          TLS_CA_FILE: files.ca,
          TLS_CERT_FILE: files.cert,
          TLS_KEY_FILE: files.key
        }

        const first = runManager(env)
        yield* Effect.addFinalizer(() => Effect.sync(() => first.child.kill("SIGKILL")))
        const listening = yield* waitFor(() => logged(first.lines, "instance manager listening"), 30_000, "listening")
        const started = yield* waitFor(() => logged(first.lines, "database server started"), 5_000, "server start")
        const serverPid = Number(started.pid)
        assert.isTrue(processExists(serverPid))
        const probePort = Number(listening.probePort)
        assert.strictEqual(yield* probe(probePort, "/healthz"), 200)
        // the backup account does not exist yet in a fresh data dir: not ready
        const deadline = Date.now() + 30_000
        while (!(yield* sql(db.defaultsFile, "SELECT 1")) && Date.now() < deadline) yield* Effect.sleep("100 millis")
        assert.strictEqual(yield* probe(probePort, "/readyz"), 503)
        assert.isTrue(
          yield* sql(
            db.defaultsFile,
            `CREATE USER '${backupUser.user}'@'localhost' IDENTIFIED BY '${backupUser.password}'; GRANT ${backupUser.grants} ON *.* TO '${backupUser.user}'@'localhost'`
          )
        )
        assert.strictEqual(yield* probe(probePort, "/readyz"), 200)
        const status = yield* getStatus(`https://127.0.0.1:${listening.apiPort}`, pki.client)
        assert.strictEqual(status.role, "primary")
        assert.match(status.executedGtid, /^0-1-\d+$/u)
        assert.isFalse(first.lines.some((l) => l.includes(backupUser.password)))

        first.child.kill("SIGTERM")
        const code = yield* Effect.promise(() => first.exit)
        assert.strictEqual(code, 130, "NodeRuntime exits 130 after a signal-initiated interruption")
        assert.isFalse(processExists(serverPid), "mariadbd outlived the instance manager")

        const second = runManager(env)
        yield* Effect.addFinalizer(() => Effect.sync(() => second.child.kill("SIGKILL")))
        yield* waitFor(() => logged(second.lines, "instance manager listening"), 30_000, "listening again")
        const restarted = yield* waitFor(() => logged(second.lines, "database server started"), 5_000, "server start")
        process.kill(Number(restarted.pid), "SIGKILL")
        const crashCode = yield* Effect.promise(() => second.exit)
        assert.notStrictEqual(crashCode, 0)
        assert.isTrue(second.lines.some((l) => l.includes("mariadbd exited")))
      }),
    120_000
  )
})
