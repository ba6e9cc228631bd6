/**
 * The archiver process's credentials: the option file it writes from ARCHIVE_USER and ARCHIVE_PASSWORD_FILE (the
 * Deployment mounts only the password) is private, quotes the password, drops the Secret's trailing newline,
 * and is removed with the process; without either form of credentials it refuses to start.
 */

import { existsSync } from "node:fs"
import { readFile, stat, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { dirname, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, Logger, References } from "effect"
import type { ArchiverEnv } from "../../src/api/binlogArchive.ts"
import { credentialsFileOf, rotation } from "../../src/pitr/main.ts"
import { backupUser, startMariadb } from "../../src/sandbox/mariadb.ts"
import { makePki, startInstanceManager } from "../instance/support.ts"
import { tempDir } from "./support.ts"

const base: ArchiverEnv = {
  ARCHIVE_CLUSTER_NAME: "db",
  ARCHIVE_CLUSTER_NAMESPACE: "ns",
  ARCHIVE_SOURCE_HOST: "db-rw.ns.svc",
  ARCHIVE_DUMP_SERVER_ID: 4001,
  ARCHIVE_WORK_DIR: "/work"
}

/** Polls `check` every 100 ms until it holds; fails with `what` after `deadline` (a bound for a loaded machine). */
const until = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, deadline: Duration.Input = "45 seconds") =>
  Effect.gen(function* () {
    while (!(yield* check)) yield* Effect.sleep("100 millis")
  }).pipe(
    Effect.timeoutOrElse({ duration: deadline, orElse: () => Effect.die(new Error(`timed out waiting: ${what}`)) })
  )

/** A loopback port nothing listens on (taken from the kernel, then released). */
const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** The archiver's client certificate files for the rotation, in a temporary directory. */
const clientTlsFiles = (pki: Effect.Success<typeof makePki>) =>
  Effect.gen(function* () {
    const dir = yield* tempDir("rotation-test")
    const files = { ca: join(dir, "ca.crt"), cert: join(dir, "tls.crt"), key: join(dir, "tls.key") }
    yield* Effect.promise(async () => {
      await writeFile(files.ca, pki.client.ca)
      await writeFile(files.cert, pki.client.cert)
      await writeFile(files.key, pki.client.key)
    })
    return files
  })

describe("archiver credentials", () => {
  it.live("an option file from the user and the mounted password, private and removed with the scope", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("archiver-test")
      const passwordFile = join(dir, "archiver")
      yield* Effect.promise(() => writeFile(passwordFile, 'p"w\\1\n'))
      const file = yield* Effect.scoped(
        Effect.gen(function* () {
          const path = yield* credentialsFileOf({
            ...base,
            ARCHIVE_USER: "cnmysql_archiver",
            ARCHIVE_PASSWORD_FILE: passwordFile
          })
          assert.strictEqual(
            yield* Effect.promise(() => readFile(path, "utf8")),
            '[client]\nuser="cnmysql_archiver"\npassword="p\\"w\\\\1"\n'
          )
          assert.strictEqual((yield* Effect.promise(() => stat(path))).mode & 0o777, 0o600)
          assert.strictEqual((yield* Effect.promise(() => stat(dirname(path)))).mode & 0o777, 0o700)
          return path
        })
      )
      assert.isFalse(existsSync(file), "removed with the scope")
      // an option file given as it is
      assert.strictEqual(
        yield* Effect.scoped(credentialsFileOf({ ...base, ARCHIVE_CREDENTIALS_FILE: "/etc/archiver.cnf" })),
        "/etc/archiver.cnf"
      )
      const refused = yield* Effect.flip(Effect.scoped(credentialsFileOf({ ...base, ARCHIVE_USER: "u" })))
      assert.strictEqual(refused._tag, "InvalidConfiguration")
    }).pipe(Effect.scoped)
  )

  it.live("while the primary's name does not resolve the rotation logs one line; a real failure warns every time", () =>
    Effect.gen(function* () {
      const pki = yield* makePki
      const files = yield* clientTlsFiles(pki)
      /** Three intervals of the rotation against `url`, with every line it logs (debug included). */
      const threeIntervals = (url: string) =>
        Effect.gen(function* () {
          const logs: Array<{ readonly level: string; readonly text: string }> = []
          const loop = yield* rotation({
            ...base,
            ARCHIVE_FLUSH_URL: url,
            ARCHIVE_FLUSH_INTERVAL_SECONDS: 1,
            ARCHIVE_TLS_CA_FILE: files.ca,
            ARCHIVE_TLS_CERT_FILE: files.cert,
            ARCHIVE_TLS_KEY_FILE: files.key
          })
          const running = yield* Effect.forkScoped(
            loop.pipe(
              Effect.provide(
                Logger.layer([
                  Logger.make(({ logLevel, message }) =>
                    logs.push({ level: logLevel, text: String((Array.isArray(message) ? message : [message])[0]) })
                  )
                ])
              ),
              Effect.provideService(References.MinimumLogLevel, "Debug")
            )
          )
          // each interval logs a line (the waiting ones at debug level): the evidence that three passed
          yield* until(
            "three rotation intervals",
            Effect.sync(() => logs.length >= 3)
          )
          yield* Fiber.interrupt(running)
          return logs.slice(0, 3)
        })
      // `.invalid` never resolves (RFC 6761), as the primary's Service name does not before the Service exists
      assert.deepStrictEqual(yield* threeIntervals("https://db-rw.ns.svc.invalid:9443"), [
        { level: "Info", text: "waiting for db-rw.ns.svc.invalid to resolve before rotating binlogs" },
        { level: "Debug", text: "db-rw.ns.svc.invalid does not resolve yet" },
        { level: "Debug", text: "db-rw.ns.svc.invalid does not resolve yet" }
      ])
      // a name that resolves to nothing listening is a failure: a warning at every interval
      const refused = yield* Effect.promise(() => freePort())
      assert.deepStrictEqual(
        yield* threeIntervals(`https://localhost:${refused}`),
        Array.from({ length: 3 }, () => ({ level: "Warn", text: "binlog rotation failed" }))
      )
    }).pipe(Effect.scoped)
  )

  it.live(
    "the rotation loop asks the primary's instance manager every interval; a file with transactions completes",
    () =>
      Effect.gen(function* () {
        const db = yield* startMariadb()
        yield* db.createUser(backupUser.user, backupUser.password, backupUser.grants)
        const pki = yield* makePki
        // the manager logs every flush it answers: the test's evidence that the loop asked again
        const managerLogs: Array<string> = []
        const manager = yield* startInstanceManager(db, pki, backupUser, managerLogs)
        const flushes = () => managerLogs.filter((line) => line.includes("binary logs flushed"))
        const files = yield* clientTlsFiles(pki)
        const loop = yield* rotation({
          ...base,
          ARCHIVE_FLUSH_URL: manager.url,
          ARCHIVE_FLUSH_INTERVAL_SECONDS: 1,
          ARCHIVE_TLS_CA_FILE: files.ca,
          ARCHIVE_TLS_CERT_FILE: files.cert,
          ARCHIVE_TLS_KEY_FILE: files.key
        })
        const count = Effect.map(db.query("SHOW BINARY LOGS"), (rows) => rows.length)
        const before = yield* count
        yield* db.exec("CREATE DATABASE rotated")
        const running = yield* Effect.forkScoped(loop)
        // the new file is seen, and the manager's answer that made it logged (the answer after it must not rotate)
        yield* until(
          "the binlog is rotated",
          Effect.map(count, (n) => n > before && flushes().some((line) => line.includes('"rotated":true')))
        )
        // idle afterwards: the next two intervals' asks rotate nothing
        const after = yield* count
        const asked = flushes().length
        yield* until(
          "two more rotation intervals",
          Effect.sync(() => flushes().length >= asked + 2)
        )
        assert.strictEqual(yield* count, after)
        for (const line of flushes().slice(asked)) assert.include(line, '"rotated":false')
        yield* Fiber.interrupt(running)
        // without its TLS files the rotation is refused before anything starts
        const refused = yield* Effect.flip(rotation({ ...base, ARCHIVE_FLUSH_URL: manager.url }))
        assert.strictEqual(refused._tag, "InvalidConfiguration")
      }).pipe(Effect.scoped),
    120_000
  )
})
