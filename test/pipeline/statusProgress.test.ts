/**
 * The worker's progress writes against the fake API server over TLS with RBAC enforced: the rendered per-Backup
 * ServiceAccount, Role and RoleBinding let it patch its own Backup's `status.progress` and nothing else.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { type Backup, BackupProgress } from "../../src/api/backup.ts"
import { renderProgressAccess } from "../../src/controller/backup/render.ts"
import {
  inClusterTarget,
  ProgressWriteFailed,
  patchProgress,
  progressStatus
} from "../../src/pipeline/statusProgress.ts"
import { FakeApiServer } from "../../src/sandbox/FakeApiServer.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"

const namespace = "db"
const rbac = "rbac.authorization.k8s.io"
const refs = {
  serviceAccounts: { group: "", version: "v1", plural: "serviceaccounts", namespace },
  roles: { group: rbac, version: "v1", plural: "roles", namespace },
  roleBindings: { group: rbac, version: "v1", plural: "rolebindings", namespace },
  backups: { group: "mysql.cloudnative-mysql.io", version: "v1alpha1", plural: "backups", namespace }
}

const backupObject = (name: string) => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "Backup",
  metadata: { name, namespace },
  spec: { cluster: { name: "c" } }
})

const sample = {
  bytesRead: 3 * 2 ** 20,
  bytesUploaded: 2 ** 20,
  partsUploaded: 1,
  bytesInFlight: 2 * 2 ** 20,
  elapsedMillis: 4_900,
  bytesPerSecond: 600_000,
  averageBytesPerSecond: 640_000
}

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "status-progress-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("status.progress writes", () => {
  it("progressStatus maps a snapshot onto the BackupProgress schema", () => {
    const progress = progressStatus(sample, "2026-12-02T01:00:00.000Z", 10 * 2 ** 20)
    assert.deepStrictEqual(progress, {
      bytesStreamed: 3 * 2 ** 20,
      bytesUploaded: 2 ** 20,
      bytesPerSecond: 600_000,
      elapsedSeconds: 4,
      estimatedTotalBytes: 10 * 2 ** 20,
      updatedAt: "2026-12-02T01:00:00.000Z"
    })
    assert.deepStrictEqual(Schema.decodeUnknownSync(BackupProgress)(progress), progress)
  })

  it("outside a Pod (no KUBERNETES_SERVICE_HOST) there is no target, and the reason says so", () => {
    const target = inClusterTarget({}, namespace, "b1")
    assert.instanceOf(target, ProgressWriteFailed)
  })

  it.live(
    "with RBAC enforced the per-Backup identity patches its own Backup's status.progress, and is refused elsewhere",
    () =>
      Effect.gen(function* () {
        const server = yield* FakeApiServer
        const fake = yield* FakeCluster
        const dir = yield* tempDir
        const own = yield* fake.create(refs.backups, backupObject("b1"))
        yield* fake.create(refs.backups, backupObject("b2"))
        const access = renderProgressAccess(own as unknown as Backup, "c")
        yield* fake.create(refs.serviceAccounts, access.serviceAccount)
        yield* fake.create(refs.roles, access.role)
        yield* fake.create(refs.roleBindings, access.roleBinding)
        yield* server.writeServiceAccountFiles(dir, namespace, access.serviceAccount.metadata.name ?? "")
        const env = { KUBERNETES_SERVICE_HOST: server.host, KUBERNETES_SERVICE_PORT: String(server.port) }

        const target = inClusterTarget(env, namespace, "b1", dir)
        assert.notInstanceOf(target, ProgressWriteFailed)
        if (target instanceof ProgressWriteFailed) return
        yield* patchProgress(target, sample, undefined)
        const written = yield* fake.get(refs.backups, "b1")
        const progress = (written as { status?: { progress?: Record<string, unknown> } }).status?.progress
        assert.strictEqual(progress?.bytesStreamed, sample.bytesRead)
        assert.strictEqual(progress?.bytesUploaded, sample.bytesUploaded)
        assert.strictEqual(progress?.elapsedSeconds, 4)

        // another Backup's status is out of reach
        const elsewhere = inClusterTarget(env, namespace, "b2", dir)
        if (elsewhere instanceof ProgressWriteFailed) return assert.fail(elsewhere.detail)
        const refused = yield* Effect.flip(patchProgress(elsewhere, sample, undefined))
        assert.match(refused.detail, /HTTP 403/u)
        const other = yield* fake.get(refs.backups, "b2")
        assert.isUndefined((other as { status?: { progress?: unknown } }).status?.progress)
      }).pipe(Effect.provide(FakeApiServer.layerTestWith({ tls: true, rbac: true })))
  )
})
