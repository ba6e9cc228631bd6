/**
 * The Backup controller's pure parts: the rendered Jobs (a snapshot of the whole Job plus contract properties),
 * source selection over random Cluster statuses, and the phase transition of every failure surface.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import { stringify } from "yaml"
import type { Backup } from "../../src/api/backup.ts"
import { CleanupEnv } from "../../src/api/cleanupJob.ts"
import type { Cluster, InstanceSummary } from "../../src/api/cluster.ts"
import { decodeWorkerEnv } from "../../src/api/jobs.ts"
import { ObjectStore } from "../../src/api/objectStore.ts"
import { decide } from "../../src/controller/backup/decide.ts"
import type { BackupObservation } from "../../src/controller/backup/observe.ts"
import { renderBackupJob, renderCleanupJob, renderProgressAccess } from "../../src/controller/backup/render.ts"
import { defaultMaxLagSeconds, selectSource } from "../../src/controller/backup/selectSource.ts"
import { findCondition } from "../../src/controller/conditions.ts"
import { objectStoreSecretFiles } from "../../src/controller/objectStoreAccess.ts"
import { jobForCache } from "../../src/controller/projections.ts"
import type { Job, Pod } from "../../src/kube/resources.ts"
import { backupObject, clusterObject, healthyInstances, objectStore, workerResult } from "./support.ts"

const now = Date.parse("2026-12-01T10:20:30Z")

const withUid = <A extends { readonly metadata: object }>(object: A, uid: string): A => ({
  ...object,
  metadata: { ...object.metadata, uid, generation: 1, resourceVersion: "5" }
})

const backup = withUid(backupObject("nightly"), "backup-uid")
const cluster: Cluster = {
  ...withUid(clusterObject("c"), "cluster-uid"),
  status: { currentPrimary: "c-1", instanceStatuses: healthyInstances }
}

const input = (b: Backup = backup, c: Cluster = cluster, store: ObjectStore = objectStore as ObjectStore) => ({
  backup: b,
  cluster: c,
  backupId: "20261201T102030Z",
  instanceName: "c-2",
  podIP: "127.0.10.2",
  objectStore: store,
  prefix: `prod/${c.metadata.name}/${b.metadata.name}/20261201T102030Z/`
})

type EnvVar = { readonly name: string; readonly value?: string; readonly valueFrom?: unknown }
type ContainerShape = { readonly env: ReadonlyArray<EnvVar> }

const containerOf = (job: Job) => job.spec?.template.spec?.containers[0] as unknown as ContainerShape
const envOf = (job: Job) => Object.fromEntries(containerOf(job).env.map((v) => [v.name, v.value]))

const everySecretStore: ObjectStore = {
  ...(objectStore as ObjectStore),
  credentials: {
    accessKeyId: { name: "keys", key: "id" },
    secretAccessKey: { name: "other-keys", key: "secret" },
    sessionToken: { name: "token", key: "t" }
  },
  caBundle: { name: "ca", key: "ca.pem" },
  serverSideEncryption: { algorithm: "customer", customerKey: { name: "sse", key: "key" } }
}

describe("renderBackupJob", () => {
  it("the whole Job for a representative Backup (snapshot)", async () => {
    await expect(stringify(renderBackupJob(input()), { aliasDuplicateObjects: false })).toMatchFileSnapshot(
      "__snapshots__/backup-job.yaml"
    )
    await expect(
      stringify(renderBackupJob(input(backup, cluster, everySecretStore)), { aliasDuplicateObjects: false })
    ).toMatchFileSnapshot("__snapshots__/backup-job-sse-c.yaml")
  })

  it("the worker's environment decodes with WorkerEnv; the object store spec with ObjectStore", () =>
    Effect.gen(function* () {
      const env = envOf(renderBackupJob(input()))
      const decoded = yield* decodeWorkerEnv(env)
      assert.strictEqual(decoded.BACKUP_INSTANCE_URL, "https://127.0.10.2:8443")
      assert.strictEqual(decoded.BACKUP_TLS_SERVER_NAME, "c-2.c-instances.db.svc")
      assert.deepStrictEqual(
        Schema.decodeUnknownSync(Schema.fromJsonString(ObjectStore))(env.OBJECT_STORE_SPEC),
        objectStore
      )
    }).pipe(Effect.runSync))

  const NamePart = Schema.Struct({
    length: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 200 })),
    seed: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000 }))
  })
  const nameOf = ({ length, seed }: typeof NamePart.Type) => {
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-"
    let name = ""
    let x = seed + 1
    for (let i = 0; i < length; i++) {
      x = (x * 1103515245 + 12345) % 2147483648
      name += alphabet[x % alphabet.length]
    }
    return `b${name.replace(/-+$/u, "")}0`.slice(0, 253)
  }

  it.prop(
    "names are DNS labels of at most 63 characters, deterministic; secrets only as Secret volume items; only the Backup's own token",
    { name: NamePart, lag: Schema.Int },
    ({ name }) => {
      const b = withUid(backupObject(nameOf(name)), "u")
      const job = renderBackupJob(input(b, cluster, everySecretStore))
      const again = renderBackupJob(input(b, cluster, everySecretStore))
      assert.deepStrictEqual(job, again)
      const jobName = job.metadata.name ?? ""
      assert.isAtMost(jobName.length, 63)
      assert.match(jobName, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/u)
      const podSpec = job.spec?.template.spec as unknown as {
        automountServiceAccountToken: boolean
        serviceAccountName: string
        volumes: ReadonlyArray<{
          projected?: {
            sources: ReadonlyArray<{ secret: { name: string; items: ReadonlyArray<{ key: string; path: string }> } }>
          }
        }>
      }
      // the token mounted is the per-Backup ServiceAccount's, whose Role is that one Backup's status only
      assert.isTrue(podSpec.automountServiceAccountToken)
      const access = renderProgressAccess(b, "c")
      assert.strictEqual(podSpec.serviceAccountName, access.serviceAccount.metadata.name)
      assert.strictEqual(access.roleBinding.roleRef.name, access.role.metadata.name)
      assert.deepStrictEqual(access.roleBinding.subjects, [
        { kind: "ServiceAccount", name: podSpec.serviceAccountName, namespace: "db" }
      ])
      assert.deepStrictEqual(access.role.rules, [
        {
          apiGroups: ["mysql.cloudnative-mysql.io"],
          resources: ["backups/status"],
          resourceNames: [b.metadata.name ?? ""],
          verbs: ["patch"]
        }
      ])
      for (const object of [access.serviceAccount, access.role, access.roleBinding]) {
        assert.strictEqual(object.metadata.name, jobName)
        assert.deepStrictEqual(
          object.metadata.ownerReferences?.map((ref) => [ref.kind, ref.uid, ref.controller]),
          [["Backup", "u", true]]
        )
      }
      const container = containerOf(job)
      assert.isTrue(container.env.every((v) => v.valueFrom === undefined && v.value !== undefined))
      const projected = podSpec.volumes.flatMap((v) => v.projected?.sources ?? [])
      const mounted = projected.map((s) => [
        s.secret.items[0]?.path,
        { name: s.secret.name, key: s.secret.items[0]?.key }
      ])
      assert.deepStrictEqual(
        mounted,
        objectStoreSecretFiles(everySecretStore).map(([file, ref]) => [file, ref])
      )
      for (const file of ["accessKeyId", "secretAccessKey", "sessionToken", "caBundle", "customerKey"]) {
        assert.isTrue(
          mounted.some(([path]) => path === file),
          file
        )
      }
    }
  )

  it("the cleanup Job derives from the backup Job alone and its env decodes with CleanupEnv", () => {
    const job = renderBackupJob(input())
    const owned = renderCleanupJob(job, backup)
    const orphan = renderCleanupJob(job, undefined)
    assert.strictEqual(owned.metadata.name, "nightly-cleanup")
    assert.strictEqual(orphan.metadata.name, "nightly-cleanup")
    assert.strictEqual(owned.metadata.ownerReferences?.[0]?.uid, "backup-uid")
    assert.isUndefined(orphan.metadata.ownerReferences)
    const env = Schema.decodeUnknownSync(CleanupEnv)(envOf(owned))
    assert.strictEqual(env.CLEANUP_PREFIX, "prod/c/nightly/20261201T102030Z/")
    assert.deepStrictEqual(env.OBJECT_STORE_SPEC, objectStore)
    assert.strictEqual((containerOf(owned) as unknown as { image: string }).image, cluster.spec.imageName)
  })

  it("the cleanup Job rendered from the cached backup Job is the one rendered from the Job as created", () => {
    for (const store of [objectStore as ObjectStore, everySecretStore]) {
      const job = renderBackupJob(input(backup, cluster, store))
      const cached = jobForCache(job)
      assert.isBelow(JSON.stringify(cached).length, JSON.stringify(job).length / 2)
      assert.deepStrictEqual(renderCleanupJob(cached, backup), renderCleanupJob(job, backup))
      assert.deepStrictEqual(renderCleanupJob(cached, undefined), renderCleanupJob(job, undefined))
    }
  })
})

const Instance = Schema.Struct({
  role: Schema.Literals(["primary", "replica"]),
  ready: Schema.Boolean,
  hasIP: Schema.Boolean,
  lag: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 200 })))
})

const summaries = (instances: ReadonlyArray<typeof Instance.Type>): ReadonlyArray<InstanceSummary> =>
  instances.map((i, n) => ({
    name: `c-${n + 1}`,
    role: i.role,
    ready: i.ready,
    ...(i.hasIP ? { podIP: `127.0.0.${n + 1}` } : {}),
    ...(i.lag === undefined ? {} : { lagSeconds: i.lag })
  }))

describe("selectSource", () => {
  it.prop(
    "prefer-standby: the ready replica with the least lag within the threshold, else a ready primary, else none",
    { instances: Schema.Array(Instance).check(Schema.isMaxLength(6)) },
    ({ instances }) => {
      const list = summaries(instances)
      const primary = list.find((i) => i.role === "primary")
      const status = { instanceStatuses: list, ...(primary === undefined ? {} : { currentPrimary: primary.name }) }
      const eligible = list.filter(
        (i) =>
          i.role === "replica" &&
          i.name !== primary?.name &&
          i.ready &&
          i.podIP !== undefined &&
          i.lagSeconds !== undefined &&
          i.lagSeconds <= defaultMaxLagSeconds
      )
      const result = selectSource("c", "prefer-standby", status)
      if (eligible.length > 0) {
        assert.isTrue(Result.isSuccess(result))
        const chosen = Result.isSuccess(result) ? result.success.instance : undefined
        assert.strictEqual(chosen?.lagSeconds, Math.min(...eligible.map((i) => i.lagSeconds ?? 0)))
        assert.strictEqual(chosen?.role, "replica")
      } else if (primary?.ready === true && primary.podIP !== undefined) {
        assert.strictEqual(Result.isSuccess(result) ? result.success.instance.name : "", primary.name)
      } else {
        assert.isTrue(Result.isFailure(result))
        assert.strictEqual(Result.isFailure(result) ? result.failure._tag : "", "NoHealthyInstance")
      }
      const primaryOnly = selectSource("c", "primary", status)
      if (Result.isSuccess(primaryOnly)) assert.strictEqual(primaryOnly.success.instance.name, primary?.name)
      else assert.isFalse(primary?.ready === true && primary.podIP !== undefined)
    }
  )
})

/** An observation of a Backup with the given status and Job state. */
const observe = (overrides: Partial<BackupObservation> = {}): BackupObservation => ({
  key: "db/nightly",
  backup,
  cluster,
  job: undefined,
  jobPods: [],
  cleanupJob: undefined,
  cleanupPods: [],
  ...overrides
})

const started = (): { readonly backup: Backup; readonly job: Job } => {
  const first = decide(observe(), now)
  const job = first.actions.flatMap((action) => (action._tag === "CreateJob" ? [action.job] : []))[0]
  return {
    backup: { ...backup, status: first.status ?? {} },
    job: { ...(job as Job), metadata: { ...(job as Job).metadata, uid: "job-uid", resourceVersion: "7" } }
  }
}

const podOf = (phase: string, state: unknown): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    namespace: "db",
    name: "nightly-backup-x",
    ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "nightly-backup", uid: "job-uid", controller: true }]
  },
  status: { phase, containerStatuses: [{ name: "backup", state: state as never }] }
})

const jobWith = (job: Job, conditions: ReadonlyArray<{ type: string; reason?: string; message?: string }>): Job => ({
  ...job,
  status: { conditions: conditions.map((c) => ({ ...c, status: "True" })) }
})

interface Surface {
  readonly name: string
  readonly observation: () => BackupObservation
  readonly phase: string
  readonly reason: string
}

const surfaces: ReadonlyArray<Surface> = [
  {
    name: "missing Cluster",
    observation: () => observe({ cluster: undefined }),
    phase: "pending",
    reason: "ClusterNotFound"
  },
  {
    name: "no object store",
    observation: () => observe({ cluster: { ...cluster, spec: { ...cluster.spec, backup: undefined } as never } }),
    phase: "failed",
    reason: "ObjectStoreNotConfigured"
  },
  {
    name: "unsupported method",
    observation: () => observe({ backup: { ...backup, spec: { ...backup.spec, method: "mysqldump" as never } } }),
    phase: "failed",
    reason: "UnsupportedBackupMethod"
  },
  {
    name: "no healthy instance",
    observation: () => observe({ cluster: { ...cluster, status: { instanceStatuses: [] } } }),
    phase: "pending",
    reason: "NoHealthyInstance"
  },
  {
    name: "a cluster name that cannot be an object key",
    observation: () => {
      const b = { ...backup, spec: { ...backup.spec, cluster: { name: "c.with.dots" } } }
      return observe({ backup: b, cluster: { ...cluster, metadata: { ...cluster.metadata, name: "c.with.dots" } } })
    },
    phase: "failed",
    reason: "InvalidName"
  },
  ...(
    [
      "InstanceManagerTLSFailed",
      "XtraBackupFailed",
      "ObjectStoreUploadFailed",
      "InvalidName",
      "InvalidConfiguration"
    ] as const
  ).map(
    (reason): Surface => ({
      name: `worker reports ${reason}`,
      observation: () => {
        const s = started()
        return observe({
          backup: s.backup,
          job: jobWith(s.job, [{ type: "Failed", reason: "BackoffLimitExceeded" }]),
          jobPods: [podOf("Failed", { terminated: { exitCode: 1, message: JSON.stringify({ reason, message: "m" }) } })]
        })
      },
      phase: "failed",
      reason
    })
  ),
  ...(["BackoffLimitExceeded", "DeadlineExceeded"] as const).map(
    (reason): Surface => ({
      name: `Job ${reason} with a SIGKILLed worker`,
      observation: () => {
        const s = started()
        return observe({
          backup: s.backup,
          job: jobWith(s.job, [{ type: "Failed", reason, message: "m" }]),
          jobPods: [podOf("Failed", { terminated: { exitCode: 137, reason: "Error" } })]
        })
      },
      phase: "failed",
      reason
    })
  ),
  {
    name: "worker Pod ErrImagePull",
    observation: () => {
      const s = started()
      return observe({
        backup: s.backup,
        job: s.job,
        jobPods: [podOf("Pending", { waiting: { reason: "ErrImagePull" } })]
      })
    },
    phase: "failed",
    reason: "ErrImagePull"
  },
  {
    name: "Job deleted under the Backup",
    observation: () => {
      const s = started()
      return observe({
        backup: s.backup,
        job: { ...s.job, metadata: { ...s.job.metadata, deletionTimestamp: "2026-12-01T10:21:00Z" } }
      })
    },
    phase: "failed",
    reason: "JobDeleted"
  },
  {
    name: "Job complete without a result",
    observation: () => {
      const s = started()
      return observe({
        backup: s.backup,
        job: jobWith(s.job, [{ type: "Complete" }]),
        jobPods: [podOf("Succeeded", { terminated: { exitCode: 0 } })]
      })
    },
    phase: "failed",
    reason: "InvalidTerminationMessage"
  }
]

describe("decide: every failure surface → its phase, condition and Warning Event", () => {
  for (const surface of surfaces) {
    it(`${surface.name} → ${surface.phase} ${surface.reason}`, () => {
      const decision = decide(surface.observation(), now)
      assert.strictEqual(decision.status?.phase, surface.phase)
      const condition = findCondition(decision.status?.conditions, "Completed")
      assert.strictEqual(condition?.status, "False")
      assert.strictEqual(condition?.reason, surface.reason)
      const warnings = decision.events.filter((e) => e.type === "Warning")
      assert.deepStrictEqual(
        warnings.map((e) => e.reason),
        [surface.reason]
      )
      if (surface.phase === "pending") assert.isDefined(decision.requeueAfter)
      else assert.isDefined(decision.status?.error)
      // decided again from its own outcome: no new Event (no Event storm on every resync)
      const again = decide(
        {
          ...surface.observation(),
          backup: { ...(surface.observation().backup as Backup), status: decision.status ?? {} }
        },
        now + 1000
      )
      assert.deepStrictEqual(
        again.events.filter((e) => e.type === "Warning"),
        []
      )
    })
  }

  it("the happy path: id assigned and persisted with the Job's creation; complete → every field", () => {
    const s = started()
    assert.strictEqual(s.backup.status?.backupId, "20261201T102030Z")
    assert.strictEqual(s.job.metadata.annotations?.["cloudnative-mysql.io/backup-id"], "20261201T102030Z")
    const done = decide(
      observe({
        backup: s.backup,
        job: jobWith(s.job, [{ type: "Complete" }]),
        jobPods: [
          podOf("Succeeded", { terminated: { exitCode: 0, message: JSON.stringify(workerResult("20261201T102030Z")) } })
        ]
      }),
      now
    )
    assert.strictEqual(done.status?.phase, "completed")
    assert.strictEqual(done.status?.endBinlog, "mysql-bin.000003:1234")
    assert.deepStrictEqual(
      done.events.map((e) => e.reason),
      ["Completed"]
    )
  })
})
