import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { XtraBackupFailed } from "../../src/api/failures.ts"
import { InstanceManagerClient } from "../../src/instance/client.ts"
import {
  type BackupOutcome,
  type BackupStart,
  decodeBackupOutcome,
  decodeBackupStart,
  encodeBackupOutcome,
  encodeBackupStart
} from "../../src/instance/protocol.ts"

const start: BackupStart = {
  flavor: "mariadb",
  tool: "mariadb-backup",
  toolVersion: "10.11.19-MariaDB",
  beginGtid: "0-1-5",
  beginBinlog: { file: "mysql-bin.000001", position: 342 },
  startedAt: "2026-11-23T21:00:00.000Z"
}
const ok: BackupOutcome = {
  exitCode: 0,
  completedOk: true,
  endGtid: "0-1-7",
  endBinlog: { file: "mysql-bin.000001", position: 900 },
  error: ""
}

describe("instance manager protocol", () => {
  it.effect("round-trips headers and trailers, including a multi-line error summary", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* decodeBackupStart(encodeBackupStart(start)), start)
      const failed: BackupOutcome = {
        ...ok,
        exitCode: 1,
        completedOk: false,
        endGtid: "",
        endBinlog: null,
        error: "line 1\nFATAL: ü 'x'"
      }
      const trailers = encodeBackupOutcome(failed)
      assert.isTrue(
        Object.values(trailers).every((v) => /^[\x20-\x7e]*$/u.test(v)),
        "trailer values must be header-safe"
      )
      assert.deepStrictEqual(yield* decodeBackupOutcome(trailers), failed)
    })
  )

  it.effect("treats missing trailers as an undecodable outcome", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decodeBackupOutcome({}))
      assert.isTrue(error.message.includes("exitCode"))
    })
  )
})

describe("InstanceManagerClient.layerTest", () => {
  it.effect("serves scripted chunks and fails the outcome like the live client on a non-zero exit", () =>
    Effect.gen(function* () {
      const chunks = [new Uint8Array([1, 2]), new Uint8Array([3])]
      const good = yield* Effect.gen(function* () {
        const client = yield* InstanceManagerClient
        const backup = yield* client.startBackup("https://db-1:8443")
        const bytes = yield* Stream.runCollect(backup.body)
        return { bytes: bytes.length, outcome: yield* backup.outcome }
      }).pipe(
        Effect.provide(InstanceManagerClient.layerTest({ backup: { _tag: "Stream", start, chunks, outcome: ok } }))
      )
      assert.deepStrictEqual(good, { bytes: 2, outcome: ok })

      const bad = yield* Effect.gen(function* () {
        const client = yield* InstanceManagerClient
        const backup = yield* client.startBackup("https://db-1:8443")
        return yield* Effect.flip(backup.outcome)
      }).pipe(
        Effect.provide(
          InstanceManagerClient.layerTest({
            backup: {
              _tag: "Stream",
              start,
              chunks,
              outcome: { ...ok, exitCode: 1, completedOk: false, error: "boom" }
            }
          })
        )
      )
      assert.deepStrictEqual([bad._tag, bad.exitCode, bad.detail], ["XtraBackupFailed", 1, "boom"])

      const refused = yield* Effect.gen(function* () {
        const client = yield* InstanceManagerClient
        return yield* Effect.flip(client.startBackup("https://db-1:8443"))
      }).pipe(
        Effect.provide(
          InstanceManagerClient.layerTest({
            backup: { _tag: "Refused", error: new XtraBackupFailed({ tool: "backup", detail: "HTTP 409" }) }
          })
        )
      )
      assert.strictEqual(refused._tag, "XtraBackupFailed")
    })
  )
})
