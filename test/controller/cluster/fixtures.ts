/** Clusters, Backups and instance statuses for the Cluster reconciler's tests. */
import { Effect, Layer, Schema } from "effect"
import type { Backup } from "../../../src/api/backup.ts"
import { type Cluster, ClusterSpec } from "../../../src/api/cluster.ts"
import { instanceImage } from "../../../src/api/images.ts"
import { Caches } from "../../../src/controller/Caches.ts"
import { InstanceStatusClient } from "../../../src/controller/cluster/InstanceStatusClient.ts"
import { reconcileCluster } from "../../../src/controller/cluster/reconcile.ts"
import type { ClusterRef } from "../../../src/controller/cluster/render.ts"
import { Events, type RecordedEvent } from "../../../src/controller/Events.ts"
import type { InstanceStatus } from "../../../src/instance/protocol.ts"

export const objectStore = {
  bucket: "backups",
  path: "prod",
  endpoint: "http://s3.example:9000",
  forcePathStyle: true,
  credentials: {
    accessKeyId: { name: "s3-creds", key: "access" },
    secretAccessKey: { name: "s3-creds", key: "secret" }
  }
}

export const spec = (extra: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(ClusterSpec)({
    instances: 3,
    imageName: instanceImage("mariadb-10.11"),
    storage: { size: "1Gi", storageClass: "fast" },
    backup: { objectStore },
    ...extra
  })

export const ref = (extra: Record<string, unknown> = {}, name = "db"): ClusterRef => ({
  name,
  namespace: "ns",
  uid: `uid-of-${name}`,
  spec: spec(extra)
})

export const clusterObject = (name: string, extra: Record<string, unknown> = {}): Cluster => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "Cluster",
  metadata: { namespace: "ns", name },
  spec: spec(extra)
})

export const fromBackup = { bootstrap: { recovery: { backup: { name: "nightly" } } } }

export const fromSource = (backupID?: string) => ({
  bootstrap: { recovery: { source: "old", ...(backupID === undefined ? {} : { backupID }) } },
  externalClusters: [{ name: "old", objectStore }]
})

export const backupObject = (name: string, status: Backup["status"]): Backup => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "Backup",
  metadata: { namespace: "ns", name },
  spec: { cluster: { name: "source" }, method: "xtrabackup", target: "prefer-standby", online: true },
  ...(status === undefined ? {} : { status })
})

export const sha = "a".repeat(64)

export const completed: Backup["status"] = {
  phase: "completed",
  backupId: "20261201T101500Z",
  sha256: sha,
  size: 12345,
  endGTID: "0-1-42"
}

export const instanceStatus = (
  role: "primary" | "replica",
  gtid = "0-7-10",
  lag: number | null = 0
): InstanceStatus => ({
  role,
  ready: true,
  flavor: "mariadb",
  serverVersion: "10.11.19-MariaDB",
  readOnly: role === "replica",
  executedGtid: gtid,
  binlog: { file: "mysql-bin.000001", position: 400 },
  replication:
    role === "replica"
      ? [{ name: "", sourceHost: "db-rw.ns.svc", ioRunning: true, sqlRunning: true, lagSeconds: lag, lastError: null }]
      : [],
  backupRunning: false
})

/**
 * One reconcile of the Cluster `key` on freshly built caches (a controller that just started), once they synced;
 * Events go into `events`, and each instance manager answers with `status(instance)` (default: none answers).
 */
export const reconcileOnce = (
  key: string,
  events: Array<RecordedEvent>,
  status: (instance: string) => InstanceStatus | undefined = () => undefined
) =>
  Effect.gen(function* () {
    const caches = yield* Caches
    yield* caches.synced
    return yield* reconcileCluster(key)
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.mergeAll(Caches.layer(), Events.layerMemory(events), InstanceStatusClient.layerTest(status)))
  )
