import { createServer as createHttpServer, type RequestListener, type Server } from "node:http"
import { createServer } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { KubeConfig } from "@kubernetes/client-node"
import { Effect, Fiber, Option, Stream } from "effect"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { type Job, Resources } from "../../src/kube/resources.ts"
import { kubeconfigYaml } from "../../src/sandbox/FakeApiServer.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerLiveOnFakeServer } from "../../src/sandbox/KubeApiFake.ts"

const backup = (name: string) => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1" as const,
  kind: "Backup" as const,
  metadata: { namespace: "db", name, labels: { cluster: "main" } },
  spec: { cluster: { name: "main" }, method: "xtrabackup" as const, target: "prefer-standby" as const, online: true }
})

const job = (name: string): Job => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { namespace: "db", name },
  spec: {
    template: { spec: { restartPolicy: "Never", containers: [{ name: "backup", image: "cloudnative-mysql:dev" }] } },
    backoffLimit: 0
  }
})

const audit = Effect.gen(function* () {
  const cluster = yield* FakeCluster
  return yield* cluster.audit
})

/** A plain HTTP server on a free local port for the scope, and a kubeconfig for it (`insecure-skip-tls-verify`). */
const localServer = (handler: RequestListener) =>
  Effect.gen(function* () {
    const server = yield* Effect.acquireRelease(
      Effect.promise(
        () =>
          new Promise<Server>((resolve) => {
            const listening = createHttpServer(handler).listen(0, "127.0.0.1", () => resolve(listening))
          })
      ),
      (listening) =>
        Effect.promise(
          () =>
            new Promise<void>((resolve) => {
              listening.close(() => resolve())
              listening.closeAllConnections()
            })
        )
    )
    const address = server.address()
    const kc = new KubeConfig()
    kc.loadFromString(
      kubeconfigYaml(`http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`)
    )
    return { server, kc }
  })

describe("KubeApi live layer (client-node against the fake API server)", () => {
  it.live("create, get and list decode typed objects with server-set metadata and defaults", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const created = yield* api.create(Resources.backups, backup("nightly"))
      assert.isString(created.metadata.uid)
      assert.isString(created.metadata.resourceVersion)
      assert.strictEqual(created.metadata.generation, 1)
      assert.strictEqual(created.spec.method, "xtrabackup")
      const read = yield* api.get(Resources.backups, { namespace: "db", name: "nightly" })
      assert.strictEqual(read.metadata.uid, created.metadata.uid)
      yield* api.create(Resources.backups, {
        ...backup("other"),
        metadata: { namespace: "db", name: "other", labels: { cluster: "else" } }
      })
      const selected = yield* api.list(Resources.backups, { namespace: "db", labelSelector: "cluster=main" })
      assert.deepStrictEqual(
        selected.items.map((item) => item.metadata.name),
        ["nightly"]
      )
      assert.isTrue(Number(selected.resourceVersion) >= Number(created.metadata.resourceVersion))
    }).pipe(Effect.provide(layerLiveOnFakeServer))
  )

  it.live("merge patches go out as merge-patch+json; status goes through /status only", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const created = yield* api.create(Resources.backups, backup("nightly"))
      const ref = { namespace: "db", name: "nightly" }
      const labelled = yield* api.patch(Resources.backups, ref, {
        metadata: { labels: { reviewed: "yes" } },
        status: { phase: "completed" }
      })
      assert.strictEqual(labelled.metadata.labels?.reviewed, "yes")
      assert.isUndefined(labelled.status?.phase, "status in a main-resource patch is ignored")
      assert.strictEqual(labelled.metadata.generation, created.metadata.generation, "labels do not bump generation")

      const running = yield* api.patchStatus(Resources.backups, ref, {
        status: { phase: "running", backupId: "20261123T210000Z" },
        metadata: { labels: { sneaky: "yes" } }
      })
      assert.strictEqual(running.status?.phase, "running")
      assert.isUndefined(running.metadata.labels?.sneaky, "metadata in a status patch is ignored")

      const patches = (yield* audit).filter((entry) => entry.verb === "patch")
      assert.deepStrictEqual(
        patches.map((entry) => [entry.patchType, entry.subresource]),
        [
          ["merge", ""],
          ["merge", "status"]
        ]
      )
    }).pipe(Effect.provide(layerLiveOnFakeServer))
  )

  it.live("typed errors: NotFound, AlreadyExists, Conflict on a stale replace, Invalid with causes", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const missing = yield* Effect.flip(api.get(Resources.backups, { namespace: "db", name: "nope" }))
      assert.strictEqual(missing._tag, "NotFound")

      const created = yield* api.create(Resources.jobs, job("backup-job"))
      const duplicate = yield* Effect.flip(api.create(Resources.jobs, job("backup-job")))
      assert.strictEqual(duplicate._tag, "AlreadyExists")

      yield* api.patch(Resources.jobs, { namespace: "db", name: "backup-job" }, { metadata: { labels: { x: "1" } } })
      const stale = yield* Effect.flip(
        api.replace(Resources.jobs, { ...created, metadata: { ...created.metadata, labels: { x: "2" } } })
      )
      assert.strictEqual(stale._tag, "Conflict")

      const tooLong = yield* Effect.flip(api.create(Resources.jobs, job(`backup-${"x".repeat(60)}`)))
      assert.strictEqual(tooLong._tag, "Invalid")
      assert.isTrue(tooLong._tag === "Invalid" && tooLong.causes.length > 0)
    }).pipe(Effect.provide(layerLiveOnFakeServer))
  )

  it.live("replace with the current resourceVersion keeps fields our schema does not model", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const withEnv: Job = {
        ...job("keeps"),
        spec: {
          template: {
            spec: {
              restartPolicy: "Never",
              containers: [{ name: "backup", image: "i", env: [{ name: "A", value: "1" }] }]
            }
          }
        }
      }
      const created = yield* api.create(Resources.jobs, withEnv)
      const replaced = yield* api.replace(Resources.jobs, {
        ...created,
        metadata: { ...created.metadata, labels: { replaced: "yes" } }
      })
      assert.strictEqual(replaced.metadata.labels?.replaced, "yes")
      const container = replaced.spec?.template.spec?.containers[0] as
        | { readonly env?: ReadonlyArray<unknown> }
        | undefined
      assert.deepStrictEqual(container?.env, [{ name: "A", value: "1" }])
    }).pipe(Effect.provide(layerLiveOnFakeServer))
  )

  it.live("delete passes the propagation policy; a Job deleted in the background takes its Pods along", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const cluster = yield* FakeCluster
      yield* api.create(Resources.jobs, job("doomed"))
      yield* cluster.jobs.start("db", "doomed")
      assert.strictEqual((yield* api.list(Resources.pods, { namespace: "db" })).items.length, 1)
      yield* api.delete(Resources.jobs, { namespace: "db", name: "doomed" }, { propagationPolicy: "Background" })
      yield* cluster.gc
      assert.strictEqual((yield* api.list(Resources.pods, { namespace: "db" })).items.length, 0)
      const gone = yield* Effect.flip(api.get(Resources.jobs, { namespace: "db", name: "doomed" }))
      assert.strictEqual(gone._tag, "NotFound")
    }).pipe(Effect.provide(layerLiveOnFakeServer))
  )

  it.live("a refused connection is Unavailable, naming the socket error", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(
        () =>
          new Promise<number>((resolve) => {
            const probe = createServer().listen(0, "127.0.0.1", () => {
              const address = probe.address()
              probe.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
            })
          })
      )
      const kc = new KubeConfig()
      kc.loadFromString(kubeconfigYaml(`http://127.0.0.1:${port}`))
      const error = yield* Effect.flip(
        Effect.gen(function* () {
          const api = yield* KubeApi
          return yield* api.get(Resources.backups, { namespace: "db", name: "x" })
        }).pipe(Effect.provide(KubeApi.layerKubeConfig(kc)))
      )
      assert.strictEqual(error._tag, "Unavailable")
      assert.include(error.message, "ECONNREFUSED")
    })
  )

  it.live("requests share keep-alive connections, also to a server with TLS settings", () =>
    Effect.gen(function* () {
      let connections = 0
      // insecure-skip-tls-verify is a TLS setting: client-node alone builds a new Agent (and connection) per request
      const { server, kc } = yield* localServer((_, response) => {
        response
          .writeHead(200, { "Content-Type": "application/json" })
          .end(JSON.stringify({ kind: "BackupList", metadata: { resourceVersion: "1" }, items: [] }))
      })
      server.on("connection", () => connections++)
      yield* Effect.gen(function* () {
        const api = yield* KubeApi
        for (let i = 0; i < 30; i++) yield* api.list(Resources.backups, { namespace: "db" })
      }).pipe(Effect.provide(KubeApi.layerKubeConfig(kc)))
      // undici releases a connection a moment after its response was read: back-to-back requests alternate
      // between two (without the shared pool: one connection per request, 30)
      assert.isAtMost(connections, 2)
    })
  )

  it.live("the pool lasts while the TLS settings do: a kubeconfig with other TLS settings gets a new one", () =>
    Effect.gen(function* () {
      // the client socket (its port) each request came in on
      const sockets: Array<number | undefined> = []
      const { server, kc } = yield* localServer((request, response) => {
        sockets.push(request.socket.remotePort)
        response
          .writeHead(200, { "Content-Type": "application/json" })
          .end(JSON.stringify({ kind: "BackupList", metadata: { resourceVersion: "1" }, items: [] }))
      })
      const address = server.address()
      const url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
      const requests = (n: number) =>
        Effect.gen(function* () {
          const from = sockets.length
          const api = yield* KubeApi
          for (let i = 0; i < n; i++) yield* api.list(Resources.backups, { namespace: "db" })
          return new Set(sockets.slice(from))
        })
      yield* Effect.gen(function* () {
        const first = yield* requests(10)
        // the same settings read again (a reloaded file): the same pool
        kc.loadFromString(kubeconfigYaml(url))
        const same = yield* requests(10)
        assert.isTrue(
          [...same].every((port) => first.has(port)),
          "reloaded identical settings reuse the sockets"
        )
        // a client certificate now (as a rotated one would be): a new pool, none of the old sockets
        const data = (text: string) => Buffer.from(text).toString("base64")
        kc.loadFromString(
          kubeconfigYaml(url).replace(
            "    token: fake",
            `    client-certificate-data: ${data("rotated cert")}\n    client-key-data: ${data("rotated key")}`
          )
        )
        const rotated = yield* requests(10)
        assert.isTrue(
          [...rotated].every((port) => !first.has(port)),
          "new settings, new connections"
        )
        assert.isAtMost(rotated.size, 2)
      }).pipe(Effect.provide(KubeApi.layerKubeConfig(kc)))
    })
  )

  it.live("interrupting a call or a watch closes its HTTP request", () =>
    Effect.gen(function* () {
      const closed: Array<string> = []
      const { kc } = yield* localServer((request, response) => {
        response.on("close", () =>
          closed.push(new URL(request.url ?? "", "http://x").searchParams.has("watch") ? "watch" : "get")
        )
        // answer a watch with headers and then silence; never answer anything else
        if (request.url?.includes("watch=true"))
          response.writeHead(200, { "Content-Type": "application/json" }).flushHeaders()
      })
      yield* Effect.gen(function* () {
        const api = yield* KubeApi
        const timedOut = yield* api
          .get(Resources.backups, { namespace: "db", name: "x" })
          .pipe(Effect.timeoutOption("200 millis"))
        assert.isTrue(Option.isNone(timedOut))
        const watch = yield* api.watch(Resources.backups, { namespace: "db" }).pipe(Stream.runDrain, Effect.forkChild)
        yield* Effect.sleep("300 millis")
        yield* Fiber.interrupt(watch)
      }).pipe(Effect.provide(KubeApi.layerKubeConfig(kc)))
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(closed, ["get", "watch"])
    })
  )
})
