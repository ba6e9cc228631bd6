/**
 * The Cluster's renderers: snapshots of every object for the two bootstrap modes, and properties over any
 * Cluster name and serial: unique server ids, no credentials in database Pods, listeners on the Pod IP, names
 * within the API's limits, env that the processes decode, and every object accepted by the fake API server.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { stringify } from "yaml"
import { DnsLabel } from "../../../src/api/common.ts"
import { RestoreEnv } from "../../../src/api/jobs.ts"
import { maxDnsLabelLength, serviceNames } from "../../../src/api/names.ts"
import { maxSerialForUniqueServerId, serverIdOf } from "../../../src/controller/cluster/optionFile.ts"
import {
  type ClusterRef,
  renderConfigMap,
  renderInstanceOptionFile,
  renderPod,
  renderPvc,
  renderRecoveryJob,
  renderRecoveryPlanJob,
  renderServices
} from "../../../src/controller/cluster/render.ts"
import { serverCertificateNames } from "../../../src/controller/cluster/secrets.ts"
import { InstanceManagerEnv } from "../../../src/instance/config.ts"
import { FakeCluster } from "../../../src/sandbox/FakeCluster.ts"
import { objectStore, ref, sha } from "./fixtures.ts"

const keysPlan = {
  objectStore,
  target: {
    _tag: "Keys" as const,
    backupName: "nightly",
    archiveKey: "prod/source/nightly/20261201T101500Z/backup.xbstream",
    metadataKey: "prod/source/nightly/20261201T101500Z/metadata.json",
    sha256: sha,
    size: 12345
  }
}
const prefixPlan = {
  objectStore,
  target: {
    _tag: "Prefix" as const,
    source: "old",
    backupId: "20261201T101500Z",
    onDamagedLatest: "usePrevious" as const
  }
}

type Env = ReadonlyArray<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>
type Container = { env: Env; volumeMounts: ReadonlyArray<{ name: string }> }
type PodSpecShape = {
  containers: ReadonlyArray<Container>
  volumes: ReadonlyArray<Record<string, unknown>>
  automountServiceAccountToken: boolean
  hostname: string
}
const podSpec = (pod: ReturnType<typeof renderPod>) => pod.spec as unknown as PodSpecShape
const envOf = (container: Container, podIP = "127.0.10.1") =>
  Object.fromEntries(
    container.env.map((e) => [e.name, e.value ?? (e.valueFrom?.fieldRef?.fieldPath === "status.podIP" ? podIP : "")])
  )

describe("Cluster renderers: snapshots", () => {
  it("renders a new Cluster's objects", async () => {
    const cluster = ref()
    const objects = [
      renderConfigMap(cluster, [
        { serial: 1, role: "primary" },
        { serial: 2, role: "replica" }
      ]),
      renderPvc(cluster, 1),
      renderPod(cluster, { serial: 1, role: "primary", bootstrap: "initialise" }),
      renderPod(cluster, { serial: 2, role: "replica", bootstrap: "clone" }),
      ...renderServices(cluster)
    ]
    await expect(objects.map((o) => stringify(o)).join("---\n")).toMatchFileSnapshot("__snapshots__/new-cluster.yaml")
  })

  it("renders the recovery Jobs (from a Backup's keys, from an object-store prefix)", async () => {
    const cluster = ref({ bootstrap: { recovery: { backup: { name: "nightly" } } } })
    const objects = [renderRecoveryJob(cluster, keysPlan), renderRecoveryJob(cluster, prefixPlan)]
    await expect(objects.map((o) => stringify(o)).join("---\n")).toMatchFileSnapshot("__snapshots__/recovery-jobs.yaml")
  })

  it("renders the recovery plan Job of a point-in-time recovery (credentials, no data volume)", async () => {
    const cluster = ref({ bootstrap: { recovery: { source: "old", recoveryTarget: { targetGTID: "0-1-41" } } } })
    const job = renderRecoveryPlanJob(cluster, { ...prefixPlan, recoveryTarget: { targetGTID: "0-1-41" } })
    await expect(stringify(job)).toMatchFileSnapshot("__snapshots__/recovery-plan-job.yaml")
  })
})

const Serial = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: maxSerialForUniqueServerId - 1 }))
// a Cluster name leaves room for `-instances` and instance serials (docs/cluster.md)
const ClusterName = DnsLabel.check(Schema.isMaxLength(50))

describe("Cluster renderers: properties", () => {
  it.effect.prop(
    "server ids are unique per instance, differ between Clusters, and stay in the server's range",
    { a: Serial, b: Serial, n1: Schema.Int, n2: Schema.Int },
    ({ a, b, n1, n2 }) =>
      Effect.sync(() => {
        // Kubernetes uids are UUIDs; distinct ones are what matters here
        const uid1 = `00000000-0000-4000-8000-${String(n1).padStart(12, "0")}`
        const uid2 = `00000000-0000-4000-8000-${String(n2).padStart(12, "0")}`
        for (const id of [serverIdOf(uid1, a), serverIdOf(uid2, b)]) {
          assert.isTrue(Number.isInteger(id) && id > 1 && id <= 4294967295, String(id))
        }
        if (a !== b) assert.notStrictEqual(serverIdOf(uid1, a), serverIdOf(uid1, b))
        if (uid1 !== uid2) assert.notStrictEqual(serverIdOf(uid1, a), serverIdOf(uid2, a))
        const file = renderInstanceOptionFile(ref(), { serial: a, role: "replica" })
        assert.include(file, `server_id=${serverIdOf("uid-of-db", a)}\n`)
        assert.include(file, "log_bin=")
        assert.include(file, "gtid_strict_mode=ON")
        assert.include(file, "read_only=ON")
      })
  )

  it.effect.prop(
    "database Pods carry no credentials, listen on the Pod IP, have names within limits, and decode as the instance manager's env",
    { name: ClusterName, serial: Serial, replica: Schema.Boolean },
    ({ name, serial, replica }) =>
      Effect.gen(function* () {
        const cluster: ClusterRef = { ...ref(), name }
        const pod = renderPod(cluster, {
          serial,
          role: replica ? "replica" : "primary",
          bootstrap: replica ? "clone" : "initialise"
        })
        const spec = podSpec(pod)
        const container = spec.containers[0]!
        assert.isFalse(spec.automountServiceAccountToken)
        // no object-store Secret is mounted, no secret value is in the env
        assert.notInclude(JSON.stringify(spec.volumes), "s3-creds")
        assert.notInclude(JSON.stringify(container.env), "secretKeyRef")
        assert.isFalse(container.env.some((e) => /OBJECT_STORE|AWS_/u.test(e.name)))
        for (const listener of ["LISTEN_ADDRESS", "MYSQLD_BIND_ADDRESS"]) {
          assert.strictEqual(
            container.env.find((e) => e.name === listener)?.valueFrom?.fieldRef?.fieldPath,
            "status.podIP",
            listener
          )
        }
        assert.notInclude(renderInstanceOptionFile(cluster, { serial, role: "primary" }), "bind")
        for (const objectName of [
          pod.metadata?.name ?? "",
          spec.hostname,
          ...Object.values(serviceNames(name)),
          `${name}-1-recovery`
        ]) {
          assert.isTrue(objectName.length <= maxDnsLabelLength && Schema.is(DnsLabel)(objectName), objectName)
        }
        const env = yield* Schema.decodeUnknownEffect(InstanceManagerEnv)(envOf(container))
        assert.strictEqual(env.DATA_DIR_BOOTSTRAP, replica ? "clone" : "initialise")
        assert.strictEqual(env.LISTEN_ADDRESS, "127.0.10.1")
        if (replica) assert.strictEqual(env.CLONE_SOURCE_URL, `https://${name}-rw.ns.svc:8443`)
        // every name the replicas and workers dial is covered by the server certificate
        const sans = serverCertificateNames(cluster)
        assert.include(sans, `${name}-rw.ns.svc`)
        assert.include(sans, `*.${name}-instances.ns.svc`)
      })
  )

  it.effect("the recovery Job's env decodes as RestoreEnv and carries object-store references only", () =>
    Effect.gen(function* () {
      for (const plan of [keysPlan, prefixPlan]) {
        const job = renderRecoveryJob(ref(), plan)
        const template = (job.spec?.template.spec ?? {}) as unknown as PodSpecShape
        const env = envOf(template.containers[0]!)
        const decoded = yield* Schema.decodeUnknownEffect(RestoreEnv)(env)
        if (plan.target._tag === "Keys") assert.strictEqual(decoded.RESTORE_EXPECTED_SHA256, sha)
        else {
          assert.strictEqual(decoded.RESTORE_SOURCE_CLUSTER, "old")
          assert.strictEqual(decoded.RESTORE_ON_DAMAGED_LATEST, "usePrevious")
        }
        assert.deepStrictEqual(JSON.parse(env.OBJECT_STORE_SPEC ?? ""), objectStore)
        assert.isFalse(template.automountServiceAccountToken)
        assert.include(JSON.stringify(template.volumes), '"path":"accessKeyId"')
        assert.include(JSON.stringify(template.volumes), '"path":"secretAccessKey"')
      }
    })
  )

  it.effect("the fake API server accepts every rendered object", () =>
    Effect.gen(function* () {
      const fake = yield* FakeCluster
      const cluster = ref()
      const at = (plural: string, group = "", version = "v1") => ({ group, version, plural, namespace: "ns" })
      yield* fake.create(at("configmaps"), renderConfigMap(cluster, [{ serial: 1, role: "primary" }]))
      yield* fake.create(at("persistentvolumeclaims"), renderPvc(cluster, 1))
      yield* fake.create(at("pods"), renderPod(cluster, { serial: 1, role: "primary", bootstrap: "initialise" }))
      yield* fake.create(at("pods"), renderPod(cluster, { serial: 2, role: "replica", bootstrap: "clone" }))
      for (const service of renderServices(cluster)) yield* fake.create(at("services"), service)
      yield* fake.create(at("jobs", "batch"), renderRecoveryJob(cluster, keysPlan))
      yield* fake.create(at("jobs", "batch"), renderRecoveryPlanJob(cluster, prefixPlan))
      const pods = yield* fake.list(at("pods"))
      assert.strictEqual(pods.items.length, 2)
    }).pipe(Effect.provide(Layer.fresh(FakeCluster.layer)))
  )
})
