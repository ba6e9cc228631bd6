/**
 * The binlog archiver Deployment: a snapshot, properties over any Cluster (env the archiver decodes, object-store
 * credentials only as Secret references, a dump server id no instance has, the `-rw` Service as source, no
 * ServiceAccount token, one replica recreated, never two), the pure decision, and the reconcile loop on the
 * fake API server creating, replacing and deleting it with Events.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { stringify } from "yaml"
import { ArchiverEnv } from "../../src/api/binlogArchive.ts"
import { IntervalDuration, intervalSeconds } from "../../src/api/cluster.ts"
import { DnsLabel } from "../../src/api/common.ts"
import { instanceImage } from "../../src/api/images.ts"
import { maxDnsLabelLength } from "../../src/api/names.ts"
import { decideArchiver } from "../../src/controller/binlogArchiving/reconcile.ts"
import { archiverServerId, renderArchiverDeployment } from "../../src/controller/binlogArchiving/render.ts"
import { maxSerialForUniqueServerId, serverIdOf } from "../../src/controller/cluster/optionFile.ts"
import type { ClusterRef } from "../../src/controller/cluster/render.ts"
import type { RecordedEvent } from "../../src/controller/Events.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { type Deployment, Resources } from "../../src/kube/resources.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerFake } from "../../src/sandbox/KubeApiFake.ts"
import { clusterObject, objectStore, reconcileFresh, ref, spec } from "./cluster/fixtures.ts"

const archiving = (flushInterval = "5m") => ({
  backup: { objectStore, binlogArchiving: { enabled: true, flushInterval } }
})

type Container = {
  env: ReadonlyArray<{ name: string; value?: string; valueFrom?: unknown }>
  securityContext: Record<string, unknown>
}
type PodSpecShape = {
  containers: ReadonlyArray<Container>
  volumes: ReadonlyArray<Record<string, unknown>>
  automountServiceAccountToken: boolean
}
const podSpec = (deployment: Deployment) => deployment.spec?.template.spec as unknown as PodSpecShape
// the values the renderer writes; the Pod's own fields (valueFrom) are the kubelet's
const envOf = (container: Container) =>
  Object.fromEntries(container.env.flatMap((e) => (e.valueFrom === undefined ? [[e.name, e.value ?? ""]] : [])))

const ClusterName = DnsLabel.check(Schema.isMaxLength(50))

describe("binlog archiver Deployment", () => {
  it("renders the archiver of a Cluster", async () => {
    const deployment = renderArchiverDeployment(ref(archiving("90s")))
    await expect(stringify(deployment)).toMatchFileSnapshot("__snapshots__/binlog-archiver.yaml")
  })

  it("flushInterval: hours, minutes, seconds; anything else is refused by the API", () => {
    assert.deepStrictEqual(["1h30m", "5m", "90s", "2h", "1m1s"].map(intervalSeconds), [5400, 300, 90, 7200, 61])
    for (const bad of ["", "5", "m", "5 m", "1d", "-5m", "5m1h"]) assert.isFalse(Schema.is(IntervalDuration)(bad), bad)
  })

  it("no Deployment unless enabled", () => {
    assert.isUndefined(renderArchiverDeployment(ref()))
    assert.isUndefined(renderArchiverDeployment(ref({ backup: { objectStore, binlogArchiving: { enabled: false } } })))
    assert.strictEqual(
      spec({ backup: { objectStore, binlogArchiving: { enabled: true } } }).backup?.binlogArchiving?.flushInterval,
      "5m",
      "the default"
    )
  })

  it.effect.prop(
    "env decodes as ArchiverEnv; object-store credentials only as Secret references; a dump id no instance has",
    { name: ClusterName, n: Schema.Int, minutes: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 600 })) },
    ({ name, n, minutes }) =>
      Effect.gen(function* () {
        const uid = `00000000-0000-4000-8000-${String(Math.abs(n)).padStart(12, "0")}`
        const cluster: ClusterRef = { ...ref(archiving(`${minutes}m`)), name, uid }
        const deployment = renderArchiverDeployment(cluster)
        assert.isDefined(deployment)
        if (deployment === undefined) return
        const pod = podSpec(deployment)
        const container = pod.containers[0]!
        const env = yield* Schema.decodeUnknownEffect(ArchiverEnv)(envOf(container))
        assert.strictEqual(env.ARCHIVE_SOURCE_HOST, `${name}-rw.ns.svc`)
        assert.deepStrictEqual(container.env.find((e) => e.name === "ARCHIVE_LISTEN_ADDRESS")?.valueFrom, {
          fieldRef: { fieldPath: "status.podIP" }
        })
        assert.strictEqual(env.ARCHIVE_FLUSH_URL, `https://${name}-rw.ns.svc:8443`)
        assert.strictEqual(env.ARCHIVE_FLUSH_INTERVAL_SECONDS, minutes * 60)
        assert.strictEqual(env.ARCHIVE_CLUSTER_UID, uid)
        assert.isDefined(env.ARCHIVE_TLS_CA_FILE, "TLS verified against the cluster CA")
        // object-store credentials: files from Secret references, never a value in the env
        assert.notInclude(JSON.stringify(container.env), "secretKeyRef")
        assert.isFalse(container.env.some((e) => /^AWS_|ACCESS_KEY|SECRET_ACCESS/u.test(e.name)))
        assert.include(JSON.stringify(pod.volumes), '"name":"s3-creds"')
        assert.deepStrictEqual(JSON.parse(envOf(container).OBJECT_STORE_SPEC ?? ""), objectStore)
        assert.isFalse(pod.automountServiceAccountToken)
        assert.strictEqual(container.securityContext.readOnlyRootFilesystem, true)
        assert.strictEqual(deployment.spec?.replicas, 1)
        assert.deepStrictEqual((deployment.spec as { strategy?: unknown }).strategy, { type: "Recreate" })
        // never the primary's default dump id 1, never an instance's id
        const id = archiverServerId(cluster)
        assert.notStrictEqual(id, 1)
        for (const serial of [1, 2, 3, maxSerialForUniqueServerId - 1])
          assert.notStrictEqual(id, serverIdOf(uid, serial))
        const objectName = deployment.metadata?.name ?? ""
        assert.isTrue(objectName.length <= maxDnsLabelLength && Schema.is(DnsLabel)(objectName), objectName)
        // its Pod is no database Pod: no Service selects it
        assert.strictEqual(
          deployment.spec?.template.metadata?.labels?.["app.kubernetes.io/component"],
          "binlog-archiver"
        )
      })
  )

  it("a MySQL Cluster's archiver is told its flavour; a MariaDB Cluster's environment names none (as before)", () => {
    const mariadbEnv = envOf(
      podSpec(renderArchiverDeployment(ref(archiving())) as Deployment).containers[0] as Container
    )
    assert.isUndefined(mariadbEnv.ARCHIVE_FLAVOR)
    const cluster = ref(archiving())
    const mysqlCluster: ClusterRef = { ...cluster, spec: { ...cluster.spec, imageName: instanceImage("8.4") } }
    const env = envOf(podSpec(renderArchiverDeployment(mysqlCluster) as Deployment).containers[0] as Container)
    assert.strictEqual(env.ARCHIVE_FLAVOR, "mysql")
    assert.strictEqual(Schema.decodeUnknownSync(ArchiverEnv)(env).ARCHIVE_FLAVOR, "mysql")
  })

  it("the decision: create, keep, replace on a changed rendering, delete when disabled, never a foreign one", () => {
    const cluster = ref(archiving())
    const wanted = renderArchiverDeployment(cluster)
    const changed = renderArchiverDeployment(ref(archiving("1m")))
    assert.strictEqual(decideArchiver(cluster.uid, wanted, undefined).action._tag, "Create")
    assert.strictEqual(decideArchiver(cluster.uid, wanted, wanted).action._tag, "Keep")
    const existing = { ...wanted, metadata: { ...wanted?.metadata, resourceVersion: "7" } } as Deployment
    const replaced = decideArchiver(cluster.uid, changed, existing).action
    assert.strictEqual(replaced._tag, "Replace")
    assert.strictEqual(replaced._tag === "Replace" ? replaced.deployment.metadata?.resourceVersion : "", "7")
    assert.strictEqual(decideArchiver(cluster.uid, undefined, existing).action._tag, "Delete")
    assert.strictEqual(decideArchiver(cluster.uid, undefined, undefined).action._tag, "Keep")
    const foreign = { ...existing, metadata: { ...existing.metadata, ownerReferences: [] } } as Deployment
    assert.strictEqual(decideArchiver(cluster.uid, undefined, foreign).action._tag, "Keep")
  })

  it.effect("the reconcile loop creates it, replaces it when flushInterval changes, deletes it when disabled", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const events: Array<RecordedEvent> = []
      const reconcile = reconcileFresh("ns/arch", events)
      const created = yield* api.create(Resources.clusters, clusterObject("arch", archiving()))
      yield* reconcile
      const ref_ = { namespace: "ns", name: "arch-binlog-archiver" }
      const first = yield* api.get(Resources.deployments, ref_)
      assert.strictEqual(first.metadata?.ownerReferences?.[0]?.uid, created.metadata.uid)
      yield* reconcile
      assert.strictEqual(
        (yield* api.get(Resources.deployments, ref_)).metadata?.resourceVersion,
        first.metadata?.resourceVersion
      )

      const current = yield* api.get(Resources.clusters, { namespace: "ns", name: "arch" })
      yield* api.replace(Resources.clusters, { ...current, spec: { ...current.spec, ...archiving("30s") } })
      yield* reconcile
      const replaced = yield* api.get(Resources.deployments, ref_)
      const env = envOf(podSpec(replaced).containers[0]!)
      assert.strictEqual(env.ARCHIVE_FLUSH_INTERVAL_SECONDS, "30")

      const again = yield* api.get(Resources.clusters, { namespace: "ns", name: "arch" })
      yield* api.replace(Resources.clusters, {
        ...again,
        spec: { ...again.spec, backup: { objectStore, binlogArchiving: { enabled: false, flushInterval: "5m" } } }
      })
      yield* reconcile
      const gone = yield* Effect.flip(api.get(Resources.deployments, ref_))
      assert.strictEqual(gone._tag, "NotFound")
      assert.deepStrictEqual(
        events.filter((e) => e.reason.startsWith("BinlogArchiver")).map((e) => e.reason),
        ["BinlogArchiverCreated", "BinlogArchiverUpdated", "BinlogArchiverDeleted"]
      )
    }).pipe(Effect.provide(Layer.fresh(layerFake.pipe(Layer.provideMerge(FakeCluster.layer)))))
  )
})
