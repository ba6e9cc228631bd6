/**
 * The ScheduledBackup decision as a pure function: whatever the reconcile times, at most one Backup per slot,
 * every Backup for a slot that had come, none for a slot older than the starting deadline.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import type { Backup } from "../../src/api/backup.ts"
import type { ScheduledBackup } from "../../src/api/scheduledBackup.ts"
import { decide, slotSuffix } from "../../src/controller/scheduledBackup/decide.ts"
import { scheduledBackupKeysOf } from "../../src/controller/scheduledBackup/reconcile.ts"

const start = Date.parse("2026-12-01T00:00:00Z")

const object = (every: number, deadline: number): ScheduledBackup => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "ScheduledBackup",
  metadata: { namespace: "db", name: "s", creationTimestamp: "2026-12-01T00:00:00Z", uid: "u" },
  spec: {
    schedule: `*/${every} * * * *`,
    cluster: { name: "c" },
    method: "xtrabackup",
    target: "prefer-standby",
    online: true,
    immediate: false,
    suspend: false,
    backupOwnerReference: "none",
    startingDeadlineSeconds: deadline
  }
})

describe("ScheduledBackup decide", () => {
  it.prop(
    "at most one Backup per slot; each for a slot at or before the reconcile and within the deadline",
    {
      every: Schema.Literals([1, 5, 15, 30]),
      deadline: Schema.Int.check(Schema.isBetween({ minimum: 60, maximum: 7200 })),
      gaps: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 180 }))).check(
        Schema.isMaxLength(40)
      ),
      finishes: Schema.Boolean
    },
    ({ every, deadline, gaps, finishes }) => {
      let current = object(every, deadline)
      const backups: Array<Backup> = []
      let now = start
      for (const gap of gaps) {
        now += gap * 60_000
        const decision = decide(current, backups, undefined, now)
        current = { ...current, status: decision.status }
        if (decision.create !== undefined) {
          const slot = Date.parse(decision.create.metadata.annotations?.["cloudnative-mysql.io/scheduled-at"] ?? "")
          assert.isAtMost(slot, now)
          assert.isAtMost(now - slot, deadline * 1000)
          assert.strictEqual(decision.create.metadata.name, `s-${slotSuffix(slot)}`)
          assert.strictEqual(new Date(slot).getUTCMinutes() % every, 0)
          assert.isFalse(backups.some((b) => b.metadata.name === decision.create?.metadata.name))
          backups.push({ ...decision.create, status: finishes ? { phase: "completed" } : {} })
        }
        assert.isAtMost(backups.filter((b) => b.status?.phase !== "completed").length, 1)
      }
    }
  )

  it("a Backup of a ScheduledBackup whose name is past 63 characters maps back to that ScheduledBackup", () => {
    const long = `${"nightly-".repeat(9)}x`
    const decision = decide(
      { ...object(5, 600), metadata: { ...object(5, 600).metadata, name: long } },
      [],
      undefined,
      start + 6 * 60_000
    )
    const created = decision.create
    assert.isDefined(created)
    if (created === undefined) return
    assert.isAtMost(created.metadata.labels?.["cloudnative-mysql.io/scheduled-backup"]?.length ?? 0, 63)
    assert.deepStrictEqual(scheduledBackupKeysOf(created), [`db/${long}`])
    const { annotations: _, ...olderMetadata } = created.metadata
    assert.deepStrictEqual(scheduledBackupKeysOf({ ...created, metadata: { ...olderMetadata, name: "s-old" } }), [
      `db/${created.metadata.labels?.["cloudnative-mysql.io/scheduled-backup"]}`
    ])
  })
})
