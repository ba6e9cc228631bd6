import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { parse } from "yaml"
import { Backup } from "../../src/api/backup.ts"
import { Cluster } from "../../src/api/cluster.ts"
import { ObjectStore } from "../../src/api/objectStore.ts"

// Verbatim copies of the YAML blocks of the product specification (docs/spec.md)
const fixture = (name: string): unknown =>
  parse(readFileSync(join(import.meta.dirname, "fixtures", "spec", name), "utf8"))

describe("the specification's examples decode", () => {
  it("the objectStore block", () => {
    const block = fixture("objectstore-block.yaml") as { spec: { backup: { objectStore: unknown } } }
    const store = Schema.decodeUnknownSync(ObjectStore)(block.spec.backup.objectStore)
    expect(store).toMatchObject({ bucket: "cloudnative-mysql-backups", path: "production", forcePathStyle: true })
    expect(store.credentials.secretAccessKey).toEqual({ name: "minio-creds", key: "secretKey" })
  })

  it("the Backup, with the documented defaults", () => {
    const backup = Schema.decodeUnknownSync(Backup)(fixture("backup.yaml"))
    expect(backup.spec).toEqual({
      cluster: { name: "cluster-sample" },
      method: "xtrabackup",
      target: "prefer-standby",
      online: true
    })
    const minimal = Schema.decodeUnknownSync(Backup)({
      apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
      kind: "Backup",
      metadata: { name: "b" },
      spec: { cluster: { name: "cluster-sample" } }
    })
    expect(minimal.spec).toEqual(backup.spec)
  })

  it("the Cluster recovering from a Backup", () => {
    const cluster = Schema.decodeUnknownSync(Cluster)(fixture("cluster-recovery-backup.yaml"))
    expect(cluster.spec.bootstrap?.recovery?.backup).toEqual({ name: "backup-sample" })
    expect(cluster.spec.instances).toBe(3)
  })

  it("the Cluster recovering from raw object storage", () => {
    const cluster = Schema.decodeUnknownSync(Cluster)(fixture("cluster-recovery-source.yaml"))
    expect(cluster.spec.bootstrap?.recovery).toEqual({
      source: "prod-cluster",
      backupID: "",
      recoveryTarget: { targetGTID: "uuid:1-99" }
    })
    expect(cluster.spec.externalClusters?.[0]?.name).toBe("prod-cluster")
  })
})

describe("what admission rejects, decoding rejects too", () => {
  const base = fixture("cluster-recovery-source.yaml") as {
    spec: { bootstrap: { recovery: Record<string, unknown> }; externalClusters: Array<Record<string, unknown>> }
  }
  const withRecovery = (recovery: Record<string, unknown>) => ({
    ...base,
    spec: { ...base.spec, bootstrap: { recovery } }
  })
  const rejects = (value: unknown, message: string) =>
    expect(() => Schema.decodeUnknownSync(Cluster)(value)).toThrow(message)

  it("source and backup together, or neither", () => {
    rejects(withRecovery({ source: "prod-cluster", backup: { name: "b" } }), "set exactly one of backup and source")
    rejects(withRecovery({}), "set exactly one of backup and source")
  })

  it("backupID without source", () => {
    rejects(
      withRecovery({ backup: { name: "b" }, backupID: "20261123T204644Z" }),
      "backupID is only valid together with source"
    )
  })

  it("onDamagedLatest without source, or an unknown value", () => {
    rejects(
      withRecovery({ backup: { name: "b" }, onDamagedLatest: "usePrevious" }),
      "onDamagedLatest is only valid together with source"
    )
    rejects(withRecovery({ source: "prod-cluster", onDamagedLatest: "skip" }), "Expected")
    expect(() =>
      Schema.decodeUnknownSync(Cluster)(withRecovery({ source: "prod-cluster", onDamagedLatest: "usePrevious" }))
    ).not.toThrow()
  })

  it("retentionDryRun without retentionPolicy, or a malformed policy", () => {
    const withBackup = (backup: Record<string, unknown>) => ({
      ...base,
      spec: { ...base.spec, backup: { objectStore: base.spec.externalClusters[0]?.objectStore, ...backup } }
    })
    rejects(withBackup({ retentionDryRun: true }), "retentionDryRun is only valid together with retentionPolicy")
    rejects(withBackup({ retentionPolicy: "30 days" }), "Expected a string matching")
    const ok = Schema.decodeUnknownSync(Cluster)(withBackup({ retentionPolicy: "4w", retentionDryRun: true }))
    expect(ok.spec.backup?.retentionPolicy).toBe("4w")
  })

  it("a malformed backupID", () => {
    rejects(withRecovery({ source: "prod-cluster", backupID: "latest" }), "Expected a string matching")
  })

  it("two recovery targets", () => {
    rejects(
      withRecovery({
        source: "prod-cluster",
        recoveryTarget: { targetGTID: "0-1-5", targetTime: "2026-11-23T10:00:00Z" }
      }),
      "set exactly one of targetGTID and targetTime"
    )
  })

  it("duplicate externalClusters names", () => {
    rejects(
      {
        ...base,
        spec: { ...base.spec, externalClusters: [...base.spec.externalClusters, ...base.spec.externalClusters] }
      },
      "duplicate name"
    )
  })

  it("an unknown backup method or target", () => {
    const backup = fixture("backup.yaml") as { spec: Record<string, unknown> }
    expect(() =>
      Schema.decodeUnknownSync(Backup)({ ...backup, spec: { ...backup.spec, method: "mysqldump" } })
    ).toThrow('Expected "xtrabackup"')
    expect(() => Schema.decodeUnknownSync(Backup)({ ...backup, spec: { ...backup.spec, target: "replica" } })).toThrow()
  })
})
