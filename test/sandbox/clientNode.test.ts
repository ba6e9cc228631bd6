/**
 * Wire compatibility of the fake API server with `@kubernetes/client-node` 2.x, the client the operator's
 * live layer uses: typed calls, status merge patches, `Watch` (including the 410 ERROR event) and the
 * informer's relist after a dropped watch whose resourceVersion has been compacted away.
 */
import { assert, describe, it } from "@effect/vitest"
import * as k8s from "@kubernetes/client-node"
import { Effect } from "effect"
import { FakeApiServer, kubeconfigYaml } from "../../src/sandbox/FakeApiServer.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { backup } from "./http.ts"

const group = "mysql.cloudnative-mysql.io"
const version = "v1alpha1"
const plural = "backups"
const namespace = "default"
const backupsRef = { group, version, plural, namespace }

const withServer = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Effect.provide(FakeApiServer.layerTest))

const kubeConfig = Effect.gen(function* () {
  const server = yield* FakeApiServer
  const config = new k8s.KubeConfig()
  config.loadFromString(kubeconfigYaml(server.url))
  return config
})

/** Polls a condition every 20 ms (test-side only) until it holds or 10 s pass. */
const eventually = (condition: () => boolean) =>
  Effect.promise(async () => {
    const deadline = Date.now() + 10_000
    while (!condition()) {
      if (Date.now() > deadline) throw new Error("condition not met within 10 s")
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })

describe("client-node 2.x against the fake API server", () => {
  it.live("CustomObjectsApi: create, merge-patch /status, list with a label selector, typed 404/409 bodies", () =>
    withServer(
      Effect.gen(function* () {
        const api = (yield* kubeConfig).makeApiClient(k8s.CustomObjectsApi)
        const created = yield* Effect.promise(() =>
          api.createNamespacedCustomObject({ group, version, namespace, plural, body: backup("b1", { a: "1" }) })
        )
        assert.strictEqual(created.metadata.name, "b1")
        const patched = yield* Effect.promise(() =>
          api.patchNamespacedCustomObjectStatus(
            { group, version, namespace, plural, name: "b1", body: { status: { phase: "running" } } },
            k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)
          )
        )
        assert.strictEqual(patched.status.phase, "running")
        const list = yield* Effect.promise(() =>
          api.listNamespacedCustomObject({ group, version, namespace, plural, labelSelector: "a=1" })
        )
        assert.deepStrictEqual(
          list.items.map((item: { metadata: { name: string } }) => item.metadata.name),
          ["b1"]
        )
        const conflict = yield* Effect.flip(
          Effect.tryPromise(() =>
            api.createNamespacedCustomObject({ group, version, namespace, plural, body: backup("b1") })
          )
        )
        const cause = conflict.cause as k8s.ApiException<string>
        assert.strictEqual(cause.code, 409)
        assert.strictEqual(JSON.parse(cause.body).reason, "AlreadyExists")
      })
    )
  )

  it.live("Watch: a compacted resourceVersion is delivered as an ERROR event with a 410 Status", () =>
    withServer(
      Effect.gen(function* () {
        const fake = yield* FakeCluster
        const first = yield* fake.create(backupsRef, backup("b1"))
        yield* fake.mergePatch(backupsRef, "b1", { metadata: { labels: { x: "y" } } })
        yield* fake.faults.compact
        const watch = new k8s.Watch(yield* kubeConfig)
        const events: Array<{ type: string; code: unknown }> = []
        let done = false
        yield* Effect.promise(() =>
          watch.watch(
            `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
            { resourceVersion: first.metadata.resourceVersion },
            (type, object: { code?: unknown }) => events.push({ type, code: object.code }),
            () => {
              done = true
            }
          )
        )
        yield* eventually(() => done)
        assert.deepStrictEqual(events, [{ type: "ERROR", code: 410 }])
      })
    )
  )

  it.live("informer: after dropped watches and a compaction it relists (410) and keeps receiving events", () =>
    withServer(
      Effect.gen(function* () {
        const fake = yield* FakeCluster
        const config = yield* kubeConfig
        const api = config.makeApiClient(k8s.CustomObjectsApi)
        const path = `/apis/${group}/${version}/namespaces/${namespace}/${plural}`
        const informer = k8s.makeInformer(
          config,
          path,
          () =>
            api.listNamespacedCustomObject({ group, version, namespace, plural }) as Promise<
              k8s.KubernetesListObject<k8s.KubernetesObject>
            >
        )
        const added: Array<string> = []
        const errors: Array<unknown> = []
        informer.on("add", (object) => added.push(object.metadata?.name ?? ""))
        informer.on("error", (error) => errors.push(error))
        yield* fake.create(backupsRef, backup("b1"))
        yield* Effect.acquireRelease(
          Effect.promise(() => informer.start()),
          () => Effect.promise(() => informer.stop())
        )
        yield* eventually(() => added.includes("b1"))
        yield* fake.create(backupsRef, backup("b2"))
        yield* eventually(() => added.includes("b2"))
        // The informer reconnects from b2's resourceVersion, which the compaction has made too old.
        yield* fake.faults.dropWatches
        yield* fake.create(backupsRef, backup("b3"))
        yield* fake.faults.compact
        yield* fake.create(backupsRef, backup("b4"))
        yield* eventually(() => added.includes("b4"))
        const lists = (yield* fake.audit).filter((entry) => entry.verb === "list" && entry.plural === plural)
        assert.strictEqual(lists.length, 2, "one initial list and one relist after the 410")
        assert.deepStrictEqual(
          informer
            .list()
            .map((object) => object.metadata?.name)
            .sort(),
          ["b1", "b2", "b3", "b4"]
        )
        assert.deepStrictEqual(errors, [])
      })
    )
  )
})
