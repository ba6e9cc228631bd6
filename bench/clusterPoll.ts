/**
 * `npm run bench:clusterPoll`: what the archiver's 30-second poll costs. A three-instance Cluster is brought to
 * `healthy` on the fake API server (in memory, the instance managers and the archiver answering through their
 * `layerTest`s), once with binlog archiving and once without; then one steady-state reconcile is counted:
 *
 * - `api_requests`: the requests it sent the API server, by verb and resource (the caches are not counted: they
 *   are already synced and watch);
 * - `instance_status_calls`, `archiver_status_calls`: the calls to the instance managers and the archiver;
 * - `requeue_seconds`: when it asks to run again, so `reconciles_per_hour` of an unchanged Cluster.
 *
 * And the same for a Cluster whose recovery failed (it waits for its spec to change).
 *
 * The point of comparison: a running Cluster is looked at again every 30 s (`requeue.healthy`, 5 s while busy)
 * for its instances' statuses whether or not it archives, so the poll adds a reconcile only where the decision
 * would not requeue by itself. The last line is the JSON result.
 */
import { Duration, Effect, Layer } from "effect"
import type { ArchiverStatus } from "../src/api/binlogArchive.ts"
import { binlogArchiverLabels } from "../src/api/names.ts"
import { ArchiverStatusClient } from "../src/controller/binlogArchiving/ArchiverStatusClient.ts"
import { Caches } from "../src/controller/Caches.ts"
import { InstanceStatusClient } from "../src/controller/cluster/InstanceStatusClient.ts"
import { reconcileCluster } from "../src/controller/cluster/reconcile.ts"
import { Events, type RecordedEvent } from "../src/controller/Events.ts"
import { KubeApi } from "../src/kube/KubeApi.ts"
import { Resources } from "../src/kube/resources.ts"
import { archiveSegments } from "../src/pitr/archiveSegments.ts"
import { FakeCluster } from "../src/sandbox/FakeCluster.ts"
import { layerFake } from "../src/sandbox/KubeApiFake.ts"
import { clusterObject, instanceStatus, objectStore } from "../test/controller/cluster/fixtures.ts"

const namespace = "ns"
const ref = (plural: string, group = "", version = "v1") => ({ group, version, plural, namespace })

const archiverStatus: ArchiverStatus = {
  version: 1,
  state: "ok",
  series: "server-1",
  segments: archiveSegments([]),
  caughtUp: true,
  lagSeconds: 0,
  filesArchived: 0,
  bytesArchived: 0
}

const measure = (archiving: boolean, failedRecovery = false) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const fake = yield* FakeCluster
    const calls = { instance: 0, archiver: 0 }
    const events: Array<RecordedEvent> = []
    const services = Layer.mergeAll(
      Events.layerMemory(events),
      InstanceStatusClient.layerTest((instance) => {
        calls.instance++
        return instanceStatus(instance === "c-1" ? "primary" : "replica")
      }),
      ArchiverStatusClient.layerTest(() => {
        calls.archiver++
        return archiverStatus
      })
    )
    yield* api.create(
      Resources.clusters,
      clusterObject("c", {
        backup: { objectStore, ...(archiving ? { binlogArchiving: { enabled: true, flushInterval: "5m" } } : {}) },
        // a recovery from a source that is not declared: the Cluster fails and stays so until its spec changes
        ...(failedRecovery ? { bootstrap: { recovery: { source: "missing" } } } : {})
      })
    )
    return yield* Effect.gen(function* () {
      const caches = yield* Caches
      yield* caches.synced
      const settle = Effect.gen(function* () {
        for (let i = 0; i < 200; i++) yield* Effect.yieldNow
      })
      const markReady = Effect.gen(function* () {
        const pods = yield* api.list(Resources.pods, { namespace })
        for (const [i, pod] of pods.items.entries()) {
          if (pod.status?.phase === "Running") continue
          yield* fake.statusMergePatch(ref("pods"), pod.metadata?.name ?? "", {
            status: { phase: "Running", podIP: `127.0.3.${i + 1}`, conditions: [{ type: "Ready", status: "True" }] }
          })
        }
      })
      const wanted = failedRecovery ? "failed" : "healthy"
      let phase: string | undefined
      for (let round = 0; round < 20 && phase !== wanted; round++) {
        yield* reconcileCluster(`${namespace}/c`)
        yield* markReady
        yield* settle
        phase = (yield* api.get(Resources.clusters, { namespace, name: "c" })).status?.phase
      }
      if (phase !== wanted) return yield* Effect.die(`the Cluster did not become ${wanted} (${phase})`)
      if (archiving) {
        yield* api.create(Resources.pods, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { namespace, name: "c-binlog-archiver-x1", labels: binlogArchiverLabels("c") },
          spec: { containers: [{ name: "archiver", image: "i" }] }
        })
        yield* fake.statusMergePatch(ref("pods"), "c-binlog-archiver-x1", {
          status: { phase: "Running", podIP: "127.0.3.9" }
        })
      }
      // one reconcile to take in the archiver's report, then the steady state is measured
      yield* settle
      yield* reconcileCluster(`${namespace}/c`)
      yield* settle
      const before = (yield* fake.audit).length
      calls.instance = 0
      calls.archiver = 0
      const result = yield* reconcileCluster(`${namespace}/c`)
      const requests = (yield* fake.audit).slice(before)
      const byRequest: Record<string, number> = {}
      for (const r of requests) {
        const name = `${r.verb} ${r.plural}${r.subresource === "" ? "" : `/${r.subresource}`}`
        byRequest[name] = (byRequest[name] ?? 0) + 1
      }
      const requeueSeconds = result === undefined ? undefined : Duration.toMillis(result.requeueAfter) / 1000
      return {
        api_requests: requests.length,
        api_requests_by_kind: byRequest,
        instance_status_calls: calls.instance,
        archiver_status_calls: calls.archiver,
        requeue_seconds: requeueSeconds,
        reconciles_per_hour: requeueSeconds === undefined ? 0 : 3600 / requeueSeconds
      }
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(Caches.layer(), services)))
  }).pipe(Effect.provide(Layer.fresh(layerFake.pipe(Layer.provideMerge(FakeCluster.layer)))))

const main = Effect.gen(function* () {
  const withArchiving = yield* measure(true)
  const without = yield* measure(false)
  const result = {
    healthy_with_archiving: withArchiving,
    healthy_without_archiving: without,
    failed_recovery_with_archiving: yield* measure(true, true),
    failed_recovery_without_archiving: yield* measure(false, true)
  }
  console.log(JSON.stringify(result))
})

Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
