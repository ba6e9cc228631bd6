/**
 * Recovery resolution and the Cluster reconciler's pure decisions: every failure surface a Cluster can report
 * (resolved in the controller, or reported by the recovery Job's termination message) ends in the documented
 * phase, `Recovered` condition and Warning Event; status aggregation; scaling; Pod recreation.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { ClusterStatus } from "../../../src/api/cluster.ts"
import type { Failure } from "../../../src/api/failures.ts"
import type { FailureMessage } from "../../../src/api/jobs.ts"
import {
  type Action,
  decide,
  type ObservedInstance,
  type RecoveryObservation
} from "../../../src/controller/cluster/decide.ts"
import { recoveryOutcome, recoveryPlan } from "../../../src/controller/cluster/recovery.ts"
import type { RecoveryPlan } from "../../../src/controller/cluster/render.ts"
import { findCondition } from "../../../src/controller/conditions.ts"
import type { Pod } from "../../../src/kube/resources.ts"
import {
  backupObject,
  clusterObject,
  completed,
  fromBackup,
  fromSource,
  instanceStatus,
  objectStore,
  ref,
  sha
} from "./fixtures.ts"

const now = "2026-12-01T12:00:00Z"
const noLookup = { backup: () => undefined, cluster: () => undefined }

const flip = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect)

describe("recovery resolution", () => {
  it.effect("a completed Backup gives the keys, sha256 and size from its status", () =>
    Effect.gen(function* () {
      const plan = yield* recoveryPlan(ref(fromBackup), {
        backup: (name) => (name === "nightly" ? backupObject("nightly", completed) : undefined),
        cluster: () => undefined
      })
      assert.deepStrictEqual(plan?.target, {
        _tag: "Keys",
        backupName: "nightly",
        archiveKey: "prod/source/nightly/20261201T101500Z/backup.xbstream",
        metadataKey: "prod/source/nightly/20261201T101500Z/metadata.json",
        sha256: sha,
        size: 12345
      })
      // no override on the Backup, its Cluster is gone: the recovering Cluster's object store
      assert.deepStrictEqual(plan?.objectStore, objectStore)
    })
  )

  it.effect("the Backup's own object store wins, then its Cluster's", () =>
    Effect.gen(function* () {
      const other = { ...objectStore, bucket: "other-bucket" }
      const backup = {
        ...backupObject("nightly", completed),
        spec: { ...backupObject("nightly", completed).spec, objectStore: other }
      }
      const plan = yield* recoveryPlan(ref(fromBackup), { backup: () => backup, cluster: () => undefined })
      assert.strictEqual(plan?.objectStore.bucket, "other-bucket")
      const source = clusterObject("source", { backup: { objectStore: { ...objectStore, bucket: "source-bucket" } } })
      const viaCluster = yield* recoveryPlan(ref(fromBackup), {
        backup: () => backupObject("nightly", completed),
        cluster: (name) => (name === "source" ? source : undefined)
      })
      assert.strictEqual(viaCluster?.objectStore.bucket, "source-bucket")
    })
  )

  it.effect("source gives the externalClusters prefix, latest or pinned; no recovery gives no plan", () =>
    Effect.gen(function* () {
      const latest = yield* recoveryPlan(ref(fromSource()), noLookup)
      assert.deepStrictEqual(latest?.target, { _tag: "Prefix", source: "old" })
      const empty = yield* recoveryPlan(ref(fromSource("")), noLookup)
      assert.deepStrictEqual(empty?.target, { _tag: "Prefix", source: "old" })
      const pinned = yield* recoveryPlan(ref(fromSource("20261201T101500Z")), noLookup)
      assert.deepStrictEqual(pinned?.target, { _tag: "Prefix", source: "old", backupId: "20261201T101500Z" })
      assert.isUndefined(yield* recoveryPlan(ref(), noLookup))
    })
  )

  it.effect("every resolution failure surface", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, ReturnType<typeof ref>, Parameters<typeof recoveryPlan>[1]]> = [
        ["BackupNotFound", ref(fromBackup), noLookup],
        [
          "BackupNotCompleted",
          ref(fromBackup),
          { backup: () => backupObject("nightly", { phase: "running" }), cluster: () => undefined }
        ],
        [
          "BackupNotCompleted",
          ref(fromBackup),
          { backup: () => backupObject("nightly", undefined), cluster: () => undefined }
        ],
        [
          "ObjectStoreNotConfigured",
          { ...ref(fromBackup), spec: { ...ref(fromBackup).spec, backup: undefined } as never },
          { backup: () => backupObject("nightly", completed), cluster: () => undefined }
        ],
        [
          "ExternalClusterNotFound",
          ref({ ...fromSource(), externalClusters: [{ name: "else", objectStore }] }),
          noLookup
        ],
        ["ExternalClusterObjectStoreMissing", ref({ ...fromSource(), externalClusters: [{ name: "old" }] }), noLookup],
        [
          "RecoverySourceConflict",
          { ...ref(), spec: { ...ref().spec, bootstrap: { recovery: { source: "old", backup: { name: "x" } } } } },
          noLookup
        ]
      ]
      for (const [reason, cluster, lookup] of cases) {
        const failure = yield* flip(recoveryPlan(cluster, lookup))
        assert.strictEqual(failure._tag, reason)
      }
    })
  )

  it.effect("the Job's termination message: a result, a taxonomy failure, garbage, nothing", () =>
    Effect.gen(function* () {
      const result = {
        backupId: "20261201T101500Z",
        archiveKey: "k",
        size: 1,
        sha256: sha,
        gtid: "0-1-42",
        startedAt: "2026-12-01T10:00:00Z",
        stoppedAt: "2026-12-01T10:01:00Z"
      }
      const restored = yield* recoveryOutcome(JSON.stringify(result), "")
      assert.strictEqual(restored._tag, "Restored")
      const failed = yield* recoveryOutcome(JSON.stringify({ reason: "ChecksumMismatch", message: "bad" }), "")
      assert.deepStrictEqual(failed, { _tag: "Failed", failure: { reason: "ChecksumMismatch", message: "bad" } })
      const garbage = yield* recoveryOutcome("{oops", "")
      assert.strictEqual(garbage._tag === "Failed" && garbage.failure.reason, "InternalError")
      const none = yield* recoveryOutcome(undefined, "Job failed: BackoffLimitExceeded")
      assert.include(none._tag === "Failed" ? none.failure.message : "", "BackoffLimitExceeded")
    })
  )
})

const keysPlan: RecoveryPlan = {
  objectStore,
  target: { _tag: "Keys", backupName: "nightly", archiveKey: "a", metadataKey: "m", sha256: sha, size: 1 }
}

const readyPod = (name: string, role: "primary" | "replica", ready = true): Pod => ({
  metadata: { name, namespace: "ns", labels: { "cloudnative-mysql.io/role": role } },
  spec: { containers: [{ name: "database" }] },
  status: {
    phase: "Running",
    podIP: `127.0.0.${name.slice(-1)}`,
    conditions: [{ type: "Ready", status: ready ? "True" : "False" }]
  }
})

const instance = (
  serial: number,
  role: "primary" | "replica",
  options: { ready?: boolean; pod?: boolean } = {}
): ObservedInstance => ({
  serial,
  name: `db-${serial}`,
  hasPvc: true,
  ...(options.pod === false ? {} : { pod: readyPod(`db-${serial}`, role, options.ready ?? true) }),
  ...(options.ready === false || options.pod === false ? {} : { status: instanceStatus(role) })
})

const run = (
  recovery: RecoveryObservation,
  instances: ReadonlyArray<ObservedInstance>,
  status: ClusterStatus = {},
  extra: Record<string, unknown> = fromBackup
) => decide({ cluster: ref(extra), generation: 3, status, recovery, instances }, now)

const tags = (actions: ReadonlyArray<Action>) => actions.map((a) => a._tag)

describe("decide: recovery", () => {
  const resolutionFailures: ReadonlyArray<readonly [Failure["_tag"], "pending" | "failed"]> = [
    ["BackupNotFound", "pending"],
    ["BackupNotCompleted", "pending"],
    ["ObjectStoreNotConfigured", "failed"],
    ["ExternalClusterNotFound", "failed"],
    ["ExternalClusterObjectStoreMissing", "failed"],
    ["RecoverySourceConflict", "failed"]
  ]
  it.effect(
    "every resolution failure: phase, Recovered=False with its reason, one Warning Event, nothing created",
    () =>
      Effect.gen(function* () {
        for (const [reason, phase] of resolutionFailures) {
          const failure = yield* flip(
            recoveryPlan(
              reason === "ExternalClusterNotFound"
                ? ref({ ...fromSource(), externalClusters: [] })
                : reason === "ExternalClusterObjectStoreMissing"
                  ? ref({ ...fromSource(), externalClusters: [{ name: "old" }] })
                  : reason === "RecoverySourceConflict"
                    ? {
                        ...ref(),
                        spec: { ...ref().spec, bootstrap: { recovery: { source: "old", backup: { name: "x" } } } }
                      }
                    : reason === "ObjectStoreNotConfigured"
                      ? { ...ref(fromBackup), spec: { ...ref(fromBackup).spec, backup: undefined } as never }
                      : ref(fromBackup),
              reason === "BackupNotFound"
                ? noLookup
                : {
                    backup: () =>
                      backupObject("nightly", reason === "BackupNotCompleted" ? { phase: "failed" } : completed),
                    cluster: () => undefined
                  }
            )
          )
          assert.strictEqual(failure._tag, reason)
          const decision = run({ _tag: "Unresolved", failure }, [])
          assert.strictEqual(decision.status.phase, phase, reason)
          const condition = findCondition(decision.status.conditions, "Recovered")
          assert.strictEqual(condition?.status, "False")
          assert.strictEqual(condition?.reason, reason)
          assert.deepStrictEqual(decision.actions, [])
          assert.deepStrictEqual(
            decision.events.map((e) => [e.type, e.reason]),
            [["Warning", reason]]
          )
          assert.strictEqual(decision.requeueAfterSeconds !== undefined, phase === "pending", reason)
          // the same failure again is no new Event
          const again = run({ _tag: "Unresolved", failure }, [], decision.status)
          assert.deepStrictEqual(again.events, [])
        }
      })
  )

  const jobFailures: ReadonlyArray<FailureMessage["reason"]> = [
    "ChecksumMismatch",
    "ObjectStoreDownloadFailed",
    "RestorePrepareFailed",
    "RestoreCopyBackFailed",
    "NoBaseBackupsFound",
    "BackupIDNotFound",
    "InvalidConfiguration"
  ]
  it("every failure the recovery Job reports: failed, Recovered=False with the same reason, Warning Event, no Pod", () => {
    for (const reason of jobFailures) {
      const decision = run(
        {
          _tag: "Resolved",
          plan: keysPlan,
          job: { outcome: { _tag: "Failed", failure: { reason, message: `it broke: ${reason}` } } }
        },
        [{ serial: 1, name: "db-1", hasPvc: true }]
      )
      assert.strictEqual(decision.status.phase, "failed", reason)
      assert.strictEqual(findCondition(decision.status.conditions, "Recovered")?.reason, reason)
      assert.deepStrictEqual(
        decision.events.map((e) => [e.type, e.reason]),
        [["Warning", reason]]
      )
      assert.deepStrictEqual(decision.actions, [], "nothing starts on bad data")
    }
    const killed = run(
      {
        _tag: "Resolved",
        plan: keysPlan,
        job: { outcome: { _tag: "Failed", failure: { reason: "InternalError", message: "OOMKilled" } } }
      },
      []
    )
    assert.deepStrictEqual(
      killed.events.map((e) => e.reason),
      ["RecoveryFailed"]
    )
    assert.strictEqual(findCondition(killed.status.conditions, "Recovered")?.reason, "RecoveryFailed")
  })

  it("a recovery Job whose container cannot start: failed with the kubelet's reason, looked at again", () => {
    const decision = run(
      {
        _tag: "Resolved",
        plan: keysPlan,
        job: { outcome: { _tag: "Unstartable", reason: "ErrImagePull", message: "image not found" } }
      },
      [{ serial: 1, name: "db-1", hasPvc: true }]
    )
    assert.strictEqual(decision.status.phase, "failed")
    assert.strictEqual(findCondition(decision.status.conditions, "Recovered")?.reason, "ErrImagePull")
    assert.deepStrictEqual(
      decision.events.map((e) => [e.type, e.reason]),
      [["Warning", "ErrImagePull"]]
    )
    assert.deepStrictEqual(decision.actions, [])
    assert.isDefined(decision.requeueAfterSeconds)
  })

  it("no Job yet: the PVC and the Job are created, phase recovering; a running Job only waits", () => {
    const start = run({ _tag: "Resolved", plan: keysPlan, job: "absent" }, [])
    assert.deepStrictEqual(tags(start.actions), ["CreatePvc", "CreateRecoveryJob"])
    assert.strictEqual(start.status.phase, "recovering")
    assert.strictEqual(start.status.recovery?.jobName, "db-1-recovery")
    assert.deepStrictEqual(
      start.events.map((e) => e.reason),
      ["RecoveryStarted"]
    )
    const waiting = run(
      { _tag: "Resolved", plan: keysPlan, job: "running" },
      [{ serial: 1, name: "db-1", hasPvc: true }],
      start.status
    )
    assert.deepStrictEqual(waiting.actions, [])
    assert.deepStrictEqual(waiting.events, [])
    assert.strictEqual(waiting.status.phase, "recovering")
  })

  it("onDamagedLatest reaches the Job; skipped damaged backups land in status.recovery with a Warning Event", () =>
    Effect.runSync(
      Effect.gen(function* () {
        const plan = yield* recoveryPlan(
          ref({ ...fromSource(), bootstrap: { recovery: { source: "old", onDamagedLatest: "usePrevious" } } }),
          noLookup
        )
        assert.deepStrictEqual(plan?.target, { _tag: "Prefix", source: "old", onDamagedLatest: "usePrevious" })
        if (plan === undefined) return
        const skipped = {
          backupName: "nightly",
          backupId: "20261202T000000Z",
          prefix: "prod/old/nightly/20261202T000000Z/",
          reason: "BackupDamaged",
          message: "metadata.json does not decode"
        }
        const decision = run(
          {
            _tag: "Resolved",
            plan,
            job: {
              outcome: {
                _tag: "Restored",
                result: {
                  backupId: "20261201T101500Z" as never,
                  archiveKey: "a",
                  size: 1,
                  sha256: sha,
                  gtid: "0-1-42",
                  skippedBackups: [skipped],
                  startedAt: "2026-12-01T10:00:00Z",
                  stoppedAt: "2026-12-01T10:01:00Z"
                }
              }
            }
          },
          [{ serial: 1, name: "db-1", hasPvc: true }],
          {},
          fromSource()
        )
        assert.deepStrictEqual(decision.status.recovery?.skippedBackups, [skipped])
        assert.deepStrictEqual(
          decision.events.filter((e) => e.type === "Warning").map((e) => e.reason),
          ["DamagedBackupsSkipped"]
        )
      })
    ))

  it("a restored Job: status.recovery from its result, Recovered=True, then db-1 starts on the restored volume", () => {
    const decision = run(
      {
        _tag: "Resolved",
        plan: keysPlan,
        job: {
          outcome: {
            _tag: "Restored",
            result: {
              backupId: "20261201T101500Z" as never,
              archiveKey: "a",
              size: 1,
              sha256: sha,
              gtid: "0-1-42",
              binlog: { file: "mysql-bin.000002", position: 77 },
              startedAt: "2026-12-01T10:00:00Z",
              stoppedAt: "2026-12-01T10:01:00Z"
            }
          }
        }
      },
      [{ serial: 1, name: "db-1", hasPvc: true }]
    )
    assert.strictEqual(findCondition(decision.status.conditions, "Recovered")?.status, "True")
    assert.strictEqual(decision.status.recovery?.endGTID, "0-1-42")
    assert.strictEqual(decision.status.recovery?.endBinlog, "mysql-bin.000002:77")
    assert.strictEqual(decision.status.recovery?.completedAt, "2026-12-01T10:01:00Z")
    assert.deepStrictEqual(decision.actions, [
      { _tag: "CreatePod", plan: { serial: 1, role: "primary", bootstrap: "restored" } }
    ])
    assert.deepStrictEqual(
      decision.events.map((e) => e.reason),
      ["Recovered", "InstanceCreated"]
    )
  })
})

describe("decide: instances and status", () => {
  const recovered: RecoveryObservation = { _tag: "NotRequested" }

  it("a new Cluster: db-1 initialises; replicas are added one at a time once the primary is ready", () => {
    const first = run(recovered, [], {}, {})
    assert.deepStrictEqual(first.actions, [
      { _tag: "CreatePvc", serial: 1 },
      { _tag: "CreatePod", plan: { serial: 1, role: "primary", bootstrap: "initialise" } }
    ])
    assert.strictEqual(first.status.phase, "pending")
    assert.strictEqual(first.status.currentPrimary, "db-1")
    const starting = run(recovered, [instance(1, "primary", { ready: false })], first.status, {})
    assert.deepStrictEqual(starting.actions, [], "no clone from a primary that is not ready")
    const second = run(recovered, [instance(1, "primary")], starting.status, {})
    assert.deepStrictEqual(second.actions, [
      { _tag: "CreatePvc", serial: 2 },
      { _tag: "CreatePod", plan: { serial: 2, role: "replica", bootstrap: "clone" } }
    ])
    const cloning = run(
      recovered,
      [instance(1, "primary"), instance(2, "replica", { ready: false })],
      second.status,
      {}
    )
    assert.deepStrictEqual(cloning.actions, [], "one clone at a time")
    const third = run(recovered, [instance(1, "primary"), instance(2, "replica")], cloning.status, {})
    assert.deepStrictEqual(tags(third.actions), ["CreatePvc", "CreatePod"])
    assert.strictEqual(third.status.latestInstance, 3)
  })

  it("three ready instances are healthy; the summary has role, ready, GTID, lag and Pod IP", () => {
    const decision = run(
      recovered,
      [instance(1, "primary"), instance(2, "replica"), instance(3, "replica")],
      { phase: "pending" },
      {}
    )
    assert.strictEqual(decision.status.phase, "healthy")
    assert.strictEqual(decision.status.readyInstances, 3)
    assert.strictEqual(decision.status.instances, 3)
    assert.strictEqual(findCondition(decision.status.conditions, "Ready")?.status, "True")
    assert.deepStrictEqual(decision.status.instanceStatuses?.[1], {
      name: "db-2",
      role: "replica",
      ready: true,
      executedGtid: "0-7-10",
      lagSeconds: 0,
      podIP: "127.0.0.2"
    })
    assert.deepStrictEqual(
      decision.events.map((e) => e.reason),
      ["ClusterHealthy"]
    )
    assert.strictEqual(decision.requeueAfterSeconds, 30)
    assert.strictEqual(decision.status.observedGeneration, 3)
  })

  it("a healthy Cluster that loses a Pod is degraded and recreates it on its PVC", () => {
    const healthy: ClusterStatus = { phase: "healthy", currentPrimary: "db-1", latestInstance: 3 }
    const decision = run(
      recovered,
      [instance(1, "primary"), instance(2, "replica", { pod: false }), instance(3, "replica")],
      healthy,
      {}
    )
    assert.strictEqual(decision.status.phase, "degraded")
    assert.deepStrictEqual(decision.actions, [
      { _tag: "CreatePod", plan: { serial: 2, role: "replica", bootstrap: "clone" } }
    ])
    assert.deepStrictEqual(
      decision.events.map((e) => e.reason),
      ["InstanceCreated", "ClusterDegraded"]
    )
    // the primary's Pod is recreated as the primary on its volume (no failover)
    const primaryGone = run(
      recovered,
      [instance(1, "primary", { pod: false }), instance(2, "replica"), instance(3, "replica")],
      healthy,
      {}
    )
    assert.deepStrictEqual(primaryGone.actions, [
      { _tag: "CreatePod", plan: { serial: 1, role: "primary", bootstrap: "initialise" } }
    ])
    assert.strictEqual(findCondition(primaryGone.status.conditions, "Ready")?.reason, "PrimaryNotReady")
  })

  it("scaling down removes the highest-numbered replica and its PVC; scaling up never reuses a serial", () => {
    const status: ClusterStatus = { phase: "healthy", currentPrimary: "db-1", latestInstance: 3 }
    const down = decide(
      {
        cluster: ref({ instances: 2 }),
        generation: 4,
        status,
        recovery: recovered,
        instances: [instance(1, "primary"), instance(2, "replica"), instance(3, "replica")]
      },
      now
    )
    assert.deepStrictEqual(down.actions, [
      { _tag: "DeletePod", name: "db-3" },
      { _tag: "DeletePvc", name: "db-3" }
    ])
    const up = decide(
      {
        cluster: ref({ instances: 3 }),
        generation: 5,
        status: down.status,
        recovery: recovered,
        instances: [instance(1, "primary"), instance(2, "replica")]
      },
      now
    )
    assert.deepStrictEqual(up.actions[1], {
      _tag: "CreatePod",
      plan: { serial: 4, role: "replica", bootstrap: "clone" }
    })
  })

  it("a replica whose replication stopped is not ready: the Cluster is degraded and adds no replica", () => {
    const broken = {
      ...instance(2, "replica"),
      status: {
        ...instanceStatus("replica"),
        replication: [
          {
            name: "",
            sourceHost: "db-rw.ns.svc",
            ioRunning: false,
            sqlRunning: true,
            lagSeconds: null,
            lastError: "error connecting to master"
          }
        ]
      }
    }
    const decision = run(recovered, [instance(1, "primary"), broken], { phase: "healthy", currentPrimary: "db-1" }, {})
    assert.strictEqual(decision.status.phase, "degraded")
    assert.strictEqual(decision.status.instanceStatuses?.[1]?.ready, false)
    assert.deepStrictEqual(decision.actions, [])
  })

  it("a Pod whose role label is wrong is relabelled; a terminated Pod is replaced", () => {
    const mislabelled = { ...instance(2, "replica"), pod: readyPod("db-2", "primary") }
    const failedPod = {
      ...instance(3, "replica"),
      pod: { ...readyPod("db-3", "replica"), status: { phase: "Failed" } }
    }
    const decision = run(recovered, [instance(1, "primary"), mislabelled, failedPod], { currentPrimary: "db-1" }, {})
    assert.deepStrictEqual(decision.actions, [
      { _tag: "SetRole", name: "db-2", role: "replica" },
      { _tag: "DeletePod", name: "db-3" }
    ])
  })
})
