/**
 * Conformance suite of the fake control plane: one test per API-server rule the operator depends on,
 * each named after the Kubernetes document that states it (API concepts, API conventions, the CRD,
 * finalizer, garbage-collection and Job pages). Exercised over HTTP with plain `fetch`, and through the
 * store API where the rule is about test hooks.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { FakeApiServer } from "../../src/sandbox/FakeApiServer.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { backup, call, cluster, del, get, job, jsonPatch, mergePatch, paths, post, put, watch } from "./http.ts"

const withServer = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Effect.provide(FakeApiServer.layerTest))

/** Test-only view of store JSON for deep assertions. */
// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary object JSON
const json = (value: unknown): any => value

const backupsRef = { group: "mysql.cloudnative-mysql.io", version: "v1alpha1", plural: "backups", namespace: "default" }
const jobsRef = { group: "batch", version: "v1", plural: "jobs", namespace: "default" }
const podsRef = { group: "", version: "v1", plural: "pods", namespace: "default" }

describe("rule 1: paths, Status errors, server-set metadata, names", () => {
  it.live("api-conventions: create sets uid, creationTimestamp, generation 1 and resourceVersion", () =>
    withServer(
      Effect.gen(function* () {
        const created = yield* post(paths.backups(), backup("b1"))
        assert.strictEqual(created.status, 201)
        const meta = created.body.metadata
        assert.match(meta.uid, /^[0-9a-f-]{36}$/)
        assert.match(meta.creationTimestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
        assert.strictEqual(meta.generation, 1)
        assert.strictEqual(meta.namespace, "default")
        assert.match(meta.resourceVersion, /^\d+$/)
        const read = yield* get(`${paths.backups()}/b1`)
        assert.deepStrictEqual(read.body, created.body)
      })
    )
  )

  it.live("api-conventions: generateName gets a 5-character random suffix", () =>
    withServer(
      Effect.gen(function* () {
        const body = backup("")
        const created = yield* post(paths.backups(), { ...body, metadata: { generateName: "nightly-" } })
        assert.strictEqual(created.status, 201)
        assert.match(created.body.metadata.name, /^nightly-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
        const missing = yield* post(paths.backups(), { ...body, metadata: {} })
        assert.strictEqual(missing.status, 422)
        assert.strictEqual(missing.body.details.causes[0].field, "metadata.name")
      })
    )
  )

  it.live("api-conventions: errors are Status bodies — 404 NotFound, 409 AlreadyExists, 405 on a bad verb", () =>
    withServer(
      Effect.gen(function* () {
        const missing = yield* get(`${paths.backups()}/nope`)
        assert.strictEqual(missing.status, 404)
        assert.deepInclude(missing.body, { kind: "Status", status: "Failure", reason: "NotFound", code: 404 })
        assert.strictEqual(missing.body.message, 'backups.mysql.cloudnative-mysql.io "nope" not found')
        yield* post(paths.backups(), backup("dup"))
        const again = yield* post(paths.backups(), backup("dup"))
        assert.strictEqual(again.status, 409)
        assert.strictEqual(again.body.reason, "AlreadyExists")
        const unknownKind = yield* get("/apis/mysql.cloudnative-mysql.io/v1alpha1/namespaces/default/widgets")
        assert.strictEqual(unknownKind.status, 404)
        const putCollection = yield* put(paths.backups(), backup("x"))
        assert.strictEqual(putCollection.status, 405)
      })
    )
  )

  it.live("api-conventions: names are DNS-1123 subdomains; a Job name over 63 characters is 422 Invalid", () =>
    withServer(
      Effect.gen(function* () {
        const upper = yield* post(paths.backups(), backup("Nightly_Backup"))
        assert.strictEqual(upper.status, 422)
        assert.strictEqual(upper.body.reason, "Invalid")
        assert.strictEqual(upper.body.details.causes[0].field, "metadata.name")
        const long = "b".repeat(64)
        const longBackup = yield* post(paths.backups(), backup(long))
        assert.strictEqual(longBackup.status, 201, "64 characters are fine for a custom resource")
        const longJob = yield* post(paths.jobs(), job(long))
        assert.strictEqual(longJob.status, 422)
        assert.include(longJob.body.message, "must be no more than 63 characters")
        assert.strictEqual((yield* post(paths.jobs(), job("b".repeat(63)))).status, 201)
      })
    )
  )
})

describe("rule 2: resourceVersion and optimistic concurrency", () => {
  it.live("api-concepts: resourceVersion — one store-wide counter, bumped by every write including status", () =>
    withServer(
      Effect.gen(function* () {
        const a = yield* post(paths.backups(), backup("a"))
        const c = yield* post(paths.configmaps(), { metadata: { name: "c" }, data: { k: "v" } })
        const status = yield* mergePatch(`${paths.backups()}/a/status`, { status: { phase: "running" } })
        const rvs = [a, c, status].map((reply) => Number(reply.body.metadata.resourceVersion))
        assert.deepStrictEqual(rvs, [rvs[0], (rvs[0] ?? 0) + 1, (rvs[0] ?? 0) + 2])
        const list = yield* get(paths.backups())
        assert.strictEqual(list.body.metadata.resourceVersion, String(rvs[2]), "a list carries the store RV")
      })
    )
  )

  it.live("api-concepts: resourceVersion — stale PUT is 409 Conflict", () =>
    withServer(
      Effect.gen(function* () {
        const created = (yield* post(paths.clusters(), cluster("c1"))).body
        const first = yield* put(`${paths.clusters()}/c1`, { ...created, spec: { ...created.spec, instances: 2 } })
        assert.strictEqual(first.status, 200)
        const stale = yield* put(`${paths.clusters()}/c1`, { ...created, spec: { ...created.spec, instances: 3 } })
        assert.strictEqual(stale.status, 409)
        assert.strictEqual(stale.body.reason, "Conflict")
        assert.include(stale.body.message, "the object has been modified")
      })
    )
  )

  it.live("api-concepts: PUT of a custom resource without resourceVersion is 422; a built-in allows it", () =>
    withServer(
      Effect.gen(function* () {
        const created = (yield* post(paths.clusters(), cluster("c1"))).body
        const { resourceVersion: _rv, ...meta } = created.metadata
        const unconditional = yield* put(`${paths.clusters()}/c1`, { ...created, metadata: meta })
        assert.strictEqual(unconditional.status, 422)
        assert.include(unconditional.body.message, "must be specified for an update")
        yield* post(paths.configmaps(), { metadata: { name: "cm" }, data: { a: "1" } })
        const builtin = yield* put(`${paths.configmaps()}/cm`, { metadata: { name: "cm" }, data: { a: "2" } })
        assert.strictEqual(builtin.status, 200)
        assert.strictEqual(builtin.body.data.a, "2")
      })
    )
  )

  it.live("api-concepts: merge patch is unconditional unless it carries metadata.resourceVersion", () =>
    withServer(
      Effect.gen(function* () {
        const created = (yield* post(paths.clusters(), cluster("c1"))).body
        yield* mergePatch(`${paths.clusters()}/c1`, { spec: { instances: 2 } })
        const blind = yield* mergePatch(`${paths.clusters()}/c1`, { spec: { instances: 3 } })
        assert.strictEqual(blind.status, 200)
        const guarded = yield* mergePatch(`${paths.clusters()}/c1`, {
          metadata: { resourceVersion: created.metadata.resourceVersion },
          spec: { instances: 4 }
        })
        assert.strictEqual(guarded.status, 409)
      })
    )
  )

  it.live("api-concepts: a write that changes nothing is not a write (same resourceVersion, no event)", () =>
    withServer(
      Effect.gen(function* () {
        const created = (yield* post(paths.clusters(), cluster("c1"))).body
        const same = yield* mergePatch(`${paths.clusters()}/c1`, { spec: { instances: 1 } })
        assert.strictEqual(same.body.metadata.resourceVersion, created.metadata.resourceVersion)
        const put1 = yield* put(`${paths.clusters()}/c1`, created)
        assert.strictEqual(put1.body.metadata.resourceVersion, created.metadata.resourceVersion)
      })
    )
  )
})

describe("dry run", () => {
  it.live("api-concepts: dryRun=All runs every rule but stores nothing (create, patch, delete)", () =>
    withServer(
      Effect.gen(function* () {
        const fake = yield* FakeCluster
        const before = yield* fake.resourceVersion
        const dry = yield* post(`${paths.clusters()}?dryRun=All`, cluster("c1"))
        assert.strictEqual(dry.status, 201)
        assert.strictEqual(dry.body.spec.instances, 1)
        assert.strictEqual((yield* get(`${paths.clusters()}/c1`)).status, 404)
        assert.strictEqual((yield* post(`${paths.clusters()}?dryRun=All`, cluster("c1", 99))).status, 422)
        yield* post(paths.clusters(), cluster("c1"))
        const afterCreate = yield* fake.resourceVersion
        const patched = yield* call(
          "PATCH",
          `${paths.clusters()}/c1?dryRun=All`,
          { spec: { instances: 3 } },
          {
            "Content-Type": "application/merge-patch+json"
          }
        )
        assert.strictEqual(patched.body.spec.instances, 3)
        assert.strictEqual((yield* get(`${paths.clusters()}/c1`)).body.spec.instances, 1)
        assert.strictEqual((yield* del(`${paths.clusters()}/c1`, { dryRun: ["All"] })).status, 200)
        assert.strictEqual((yield* get(`${paths.clusters()}/c1`)).status, 200)
        assert.strictEqual(yield* fake.resourceVersion, afterCreate)
        assert.strictEqual(Number(afterCreate), Number(before) + 1)
      })
    )
  )
})

describe("rule 3: status subresource isolation", () => {
  it.live("CRD status subresource: writes to the main resource ignore .status (create, PUT, merge patch)", () =>
    withServer(
      Effect.gen(function* () {
        const created = yield* post(paths.backups(), { ...backup("b1"), status: { phase: "completed" } })
        assert.isUndefined(created.body.status)
        const patched = yield* mergePatch(`${paths.backups()}/b1`, {
          metadata: { labels: { a: "b" } },
          status: { phase: "failed" }
        })
        assert.strictEqual(patched.body.metadata.labels.a, "b")
        assert.isUndefined(patched.body.status)
        yield* mergePatch(`${paths.backups()}/b1/status`, { status: { phase: "running" } })
        const current = (yield* get(`${paths.backups()}/b1`)).body
        const replaced = yield* put(`${paths.backups()}/b1`, { ...current, status: { phase: "failed" } })
        assert.strictEqual(replaced.body.status.phase, "running")
      })
    )
  )

  it.live("CRD status subresource: /status ignores everything but .status (labels, finalizers, spec)", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.clusters(), cluster("c1"))
        const patched = yield* mergePatch(`${paths.clusters()}/c1/status`, {
          metadata: { labels: { sneaky: "yes" }, finalizers: ["x.io/f"] },
          spec: { instances: 5 },
          status: { phase: "healthy" }
        })
        assert.strictEqual(patched.status, 200)
        assert.strictEqual(patched.body.status.phase, "healthy")
        assert.isUndefined(patched.body.metadata.labels)
        assert.isUndefined(patched.body.metadata.finalizers)
        assert.strictEqual(patched.body.spec.instances, 1)
        assert.strictEqual(patched.body.metadata.generation, 1)
      })
    )
  )
})

describe("rule 4: generation", () => {
  it.live("api-conventions: generation bumps on spec changes only, not on metadata or status writes", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.clusters(), cluster("c1"))
        const labelled = yield* mergePatch(`${paths.clusters()}/c1`, { metadata: { labels: { a: "b" } } })
        assert.strictEqual(labelled.body.metadata.generation, 1)
        const invalidStatus = yield* mergePatch(`${paths.clusters()}/c1/status`, { status: { phase: "x" } })
        assert.strictEqual(invalidStatus.status, 422, "status writes are schema-validated too")
        const status = yield* mergePatch(`${paths.clusters()}/c1/status`, { status: { phase: "healthy" } })
        assert.strictEqual(status.body.metadata.generation, 1)
        const spec = yield* mergePatch(`${paths.clusters()}/c1`, { spec: { instances: 3 } })
        assert.strictEqual(spec.body.metadata.generation, 2)
      })
    )
  )

  it.live("api-conventions: generation bumps when deletionTimestamp is set", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.clusters(), { ...cluster("c1"), metadata: { name: "c1", finalizers: ["x.io/keep"] } })
        const deleting = yield* del(`${paths.clusters()}/c1`)
        assert.strictEqual(deleting.body.metadata.generation, 2)
        assert.isString(deleting.body.metadata.deletionTimestamp)
      })
    )
  )
})

describe("rule 5: watch", () => {
  it.live("api-concepts watch: ADDED, MODIFIED, DELETED arrive in resourceVersion order", () =>
    withServer(
      Effect.gen(function* () {
        const start = (yield* get(paths.clusters())).body.metadata.resourceVersion
        const events = yield* watch(`${paths.clusters()}?resourceVersion=${start}`)
        assert.strictEqual(events.status, 200)
        yield* post(paths.clusters(), cluster("c1"))
        yield* mergePatch(`${paths.clusters()}/c1`, { spec: { instances: 2 } })
        yield* del(`${paths.clusters()}/c1`)
        const received = yield* events.next(3)
        assert.deepStrictEqual(
          received.map((event) => event.type),
          ["ADDED", "MODIFIED", "DELETED"]
        )
        const rvs = received.map((event) => Number(event.object.metadata.resourceVersion))
        assert.deepStrictEqual(
          rvs,
          [...rvs].sort((a, b) => a - b)
        )
        assert.strictEqual(new Set(rvs).size, 3, "the DELETED event has its own resourceVersion")
        yield* events.close
      })
    )
  )

  it.live("api-concepts watch: without resourceVersion it starts with ADDED for every current object", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.clusters(), cluster("c1"))
        yield* post(paths.clusters(), cluster("c2"))
        const events = yield* watch(paths.clusters())
        const initial = yield* events.next(2)
        assert.deepStrictEqual(
          initial.map((event) => [event.type, event.object.metadata.name]),
          [
            ["ADDED", "c1"],
            ["ADDED", "c2"]
          ]
        )
        yield* events.close
      })
    )
  )

  it.live("api-concepts watch: from a resourceVersion replays the retained history after it", () =>
    withServer(
      Effect.gen(function* () {
        const first = (yield* post(paths.clusters(), cluster("c1"))).body.metadata.resourceVersion
        yield* mergePatch(`${paths.clusters()}/c1`, { spec: { instances: 2 } })
        yield* post(paths.clusters(), cluster("c2"))
        const events = yield* watch(`${paths.clusters()}?resourceVersion=${first}`)
        const replayed = yield* events.next(2)
        assert.deepStrictEqual(
          replayed.map((event) => [event.type, event.object.metadata.name]),
          [
            ["MODIFIED", "c1"],
            ["ADDED", "c2"]
          ]
        )
        yield* events.close
      })
    )
  )

  it.live("api-concepts watch: a resourceVersion older than the history gets 200 and one ERROR event with 410", () =>
    withServer(
      Effect.gen(function* () {
        const fake = yield* FakeCluster
        const old = (yield* post(paths.clusters(), cluster("c1"))).body.metadata.resourceVersion
        yield* mergePatch(`${paths.clusters()}/c1`, { spec: { instances: 2 } })
        yield* fake.faults.compact
        const events = yield* watch(`${paths.clusters()}?resourceVersion=${old}`)
        assert.strictEqual(events.status, 200)
        const received = yield* events.ended
        assert.strictEqual(received.length, 1)
        assert.strictEqual(received[0].type, "ERROR")
        assert.deepInclude(received[0].object, { kind: "Status", code: 410, reason: "Expired" })
        assert.include(received[0].object.message, "too old resource version")
      })
    )
  )

  it.live("api-concepts watch: the history window is bounded (historySize) and expires old resourceVersions", () =>
    Effect.gen(function* () {
      const fake = yield* FakeCluster
      const ref = { group: "", version: "v1", plural: "configmaps", namespace: "default" }
      const first = yield* fake.create(ref, { metadata: { name: "cm" }, data: { n: "0" } })
      for (let index = 1; index <= 30; index++) yield* fake.mergePatch(ref, "cm", { data: { n: String(index) } })
      const error = yield* Stream.runCollect(fake.watch(ref, { resourceVersion: first.metadata.resourceVersion })).pipe(
        Effect.flip
      )
      assert.strictEqual(error.status.code, 410)
    }).pipe(Effect.provide(FakeCluster.layerWith({ historySize: 10 })))
  )

  it.live("api-concepts watch: with a label selector, leaving the selector is DELETED and entering it is ADDED", () =>
    withServer(
      Effect.gen(function* () {
        const start = (yield* get(paths.backups())).body.metadata.resourceVersion
        const events = yield* watch(`${paths.backups()}?resourceVersion=${start}&labelSelector=tier%3Dgold`)
        yield* post(paths.backups(), backup("b1", { tier: "gold" }))
        yield* post(paths.backups(), backup("b2", { tier: "silver" }))
        yield* mergePatch(`${paths.backups()}/b1`, { metadata: { labels: { tier: "silver" } } })
        yield* mergePatch(`${paths.backups()}/b2`, { metadata: { labels: { tier: "gold" } } })
        const received = yield* events.next(3)
        assert.deepStrictEqual(
          received.map((event) => [event.type, event.object.metadata.name]),
          [
            ["ADDED", "b1"],
            ["DELETED", "b1"],
            ["ADDED", "b2"]
          ]
        )
        assert.strictEqual(received[1].object.metadata.labels.tier, "gold", "DELETED carries the last matching state")
        yield* events.close
      })
    )
  )

  it.live("api-concepts watch: timeoutSeconds ends the stream cleanly (with a BOOKMARK when allowed)", () =>
    withServer(
      Effect.gen(function* () {
        const started = Date.now()
        const events = yield* watch(`${paths.backups()}?timeoutSeconds=1&allowWatchBookmarks=true&resourceVersion=0`)
        const received = yield* events.ended
        assert.isAtLeast(Date.now() - started, 900)
        assert.deepStrictEqual(
          received.map((event) => event.type),
          ["BOOKMARK"]
        )
      })
    )
  )
})

describe("rule 6: finalizers and deletion", () => {
  it.live(
    "finalizers: DELETE sets deletionTimestamp and returns the object; removing the last finalizer deletes it",
    () =>
      withServer(
        Effect.gen(function* () {
          yield* post(paths.backups(), { ...backup("b1"), metadata: { name: "b1", finalizers: ["x.io/cleanup"] } })
          const deleting = yield* del(`${paths.backups()}/b1`)
          assert.strictEqual(deleting.status, 200)
          assert.strictEqual(deleting.body.kind, "Backup")
          assert.isString(deleting.body.metadata.deletionTimestamp)
          assert.strictEqual((yield* get(`${paths.backups()}/b1`)).status, 200)
          const done = yield* mergePatch(`${paths.backups()}/b1`, { metadata: { finalizers: null } })
          assert.strictEqual(done.status, 200)
          assert.strictEqual((yield* get(`${paths.backups()}/b1`)).status, 404)
        })
      )
  )

  it.live("finalizers: DELETE without finalizers removes at once and answers a Success Status", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.backups(), backup("b1"))
        const deleted = yield* del(`${paths.backups()}/b1`)
        assert.deepInclude(deleted.body, { kind: "Status", status: "Success" })
        assert.strictEqual((yield* get(`${paths.backups()}/b1`)).status, 404)
        assert.strictEqual((yield* del(`${paths.backups()}/b1`)).status, 404)
      })
    )
  )

  it.live("finalizers: no new finalizers may be added while the object is being deleted (422)", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.backups(), { ...backup("b1"), metadata: { name: "b1", finalizers: ["x.io/a"] } })
        yield* del(`${paths.backups()}/b1`)
        const added = yield* mergePatch(`${paths.backups()}/b1`, { metadata: { finalizers: ["x.io/a", "x.io/b"] } })
        assert.strictEqual(added.status, 422)
        assert.include(added.body.message, "no new finalizers can be added")
      })
    )
  )

  it.live("api-concepts: DELETE preconditions (uid, resourceVersion) that do not match are 409", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.backups(), backup("b1"))
        const wrong = yield* del(`${paths.backups()}/b1`, { preconditions: { uid: "not-it" } })
        assert.strictEqual(wrong.status, 409)
        assert.include(wrong.body.message, "Precondition failed")
      })
    )
  )
})

describe("rule 7: ownerReferences and garbage collection", () => {
  const owned = (name: string, owner: { metadata: { name: string; uid: string } }, block = true) => ({
    metadata: {
      name,
      ownerReferences: [
        {
          apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
          kind: "Backup",
          name: owner.metadata.name,
          uid: owner.metadata.uid,
          controller: true,
          blockOwnerDeletion: block
        }
      ]
    },
    data: {}
  })

  it.live("garbage collection: background — the owner goes at once, dependents when gc() runs", () =>
    withServer(
      Effect.gen(function* () {
        const fake = yield* FakeCluster
        const owner = (yield* post(paths.backups(), backup("b1"))).body
        yield* post(paths.configmaps(), owned("cm1", owner))
        yield* del(`${paths.backups()}/b1`, { propagationPolicy: "Background" })
        assert.strictEqual((yield* get(`${paths.configmaps()}/cm1`)).status, 200)
        assert.isAbove(yield* fake.gc, 0)
        assert.strictEqual((yield* get(`${paths.configmaps()}/cm1`)).status, 404)
      })
    )
  )

  it.live("garbage collection: foreground — the owner waits (foregroundDeletion) for blocking dependents", () =>
    withServer(
      Effect.gen(function* () {
        const fake = yield* FakeCluster
        const owner = (yield* post(paths.backups(), backup("b1"))).body
        const dependent = owned("cm1", owner)
        yield* post(paths.configmaps(), {
          ...dependent,
          metadata: { ...dependent.metadata, finalizers: ["x.io/hold"] }
        })
        const deleting = yield* del(`${paths.backups()}/b1?propagationPolicy=Foreground`)
        assert.include(deleting.body.metadata.finalizers, "foregroundDeletion")
        yield* fake.gc
        assert.strictEqual((yield* get(`${paths.backups()}/b1`)).status, 200, "blocked by cm1's finalizer")
        assert.isString((yield* get(`${paths.configmaps()}/cm1`)).body.metadata.deletionTimestamp)
        yield* mergePatch(`${paths.configmaps()}/cm1`, { metadata: { finalizers: null } })
        yield* fake.gc
        assert.strictEqual((yield* get(`${paths.backups()}/b1`)).status, 404)
      })
    )
  )

  it.live("garbage collection: orphan — dependents lose their ownerReferences and stay", () =>
    withServer(
      Effect.gen(function* () {
        const fake = yield* FakeCluster
        const owner = (yield* post(paths.backups(), backup("b1"))).body
        yield* post(paths.configmaps(), owned("cm1", owner))
        const deleting = yield* del(`${paths.backups()}/b1`, { propagationPolicy: "Orphan" })
        assert.include(deleting.body.metadata.finalizers, "orphan")
        yield* fake.gc
        assert.strictEqual((yield* get(`${paths.backups()}/b1`)).status, 404)
        const left = yield* get(`${paths.configmaps()}/cm1`)
        assert.strictEqual(left.status, 200)
        assert.isUndefined(left.body.metadata.ownerReferences)
      })
    )
  )

  it.live(
    "garbage collection: a batch/v1 Job deleted without propagationPolicy orphans its Pods (with a warning)",
    () =>
      withServer(
        Effect.gen(function* () {
          const fake = yield* FakeCluster
          yield* post(paths.jobs(), job("j1"))
          yield* fake.jobs.start("default", "j1")
          const deleted = yield* del(`${paths.jobs()}/j1`)
          assert.include(deleted.headers.get("warning") ?? "", "child pods are preserved by default")
          yield* fake.gc
          const pods = (yield* get(paths.pods())).body.items
          assert.strictEqual(pods.length, 1)
          assert.isUndefined(pods[0].metadata.ownerReferences)
          yield* post(paths.jobs(), job("j2"))
          yield* fake.jobs.start("default", "j2")
          yield* del(`${paths.jobs()}/j2?propagationPolicy=Background`)
          yield* fake.gc
          assert.strictEqual((yield* get(paths.pods())).body.items.length, 1, "j2's Pod was collected")
        })
      )
  )

  it.live("api-conventions: ownerReferences allow only one controller reference (422)", () =>
    withServer(
      Effect.gen(function* () {
        const owner = (yield* post(paths.backups(), backup("b1"))).body
        const one = owned("cm1", owner)
        const two = {
          ...one,
          metadata: {
            ...one.metadata,
            ownerReferences: [...one.metadata.ownerReferences, { ...one.metadata.ownerReferences[0], uid: "other" }]
          }
        }
        const reply = yield* post(paths.configmaps(), two)
        assert.strictEqual(reply.status, 422)
        assert.include(reply.body.message, "Only one reference can have Controller set to true")
      })
    )
  )
})

describe("rule 8: Events", () => {
  const event = (extra: Record<string, unknown>) => ({
    metadata: { name: "b1.1" },
    involvedObject: { kind: "Backup", namespace: "default", name: "b1", uid: "u1" },
    reason: "Started",
    message: "backup started",
    type: "Normal",
    source: { component: "cloudnative-mysql" },
    count: 1,
    ...extra
  })

  it.live("events: involvedObject.namespace must match the Event's namespace; type is Normal or Warning", () =>
    withServer(
      Effect.gen(function* () {
        assert.strictEqual((yield* post(paths.events(), event({}))).status, 201)
        const elsewhere = yield* post(
          paths.events(),
          event({ metadata: { name: "b1.2" }, involvedObject: { kind: "Backup", namespace: "other", name: "b1" } })
        )
        assert.strictEqual(elsewhere.status, 422)
        assert.include(elsewhere.body.message, "does not match event.namespace")
        const badType = yield* post(paths.events(), event({ metadata: { name: "b1.3" }, type: "Info" }))
        assert.strictEqual(badType.status, 422)
      })
    )
  )

  it.live("events: setting eventTime requires a 6-digit MicroTime and the reporting fields", () =>
    withServer(
      Effect.gen(function* () {
        const millis = yield* post(paths.events(), event({ eventTime: "2026-01-01T00:00:00.123Z" }))
        assert.strictEqual(millis.status, 400, "a 3-digit MicroTime does not even decode (kubernetes#94748)")
        assert.include(millis.body.message, "2006-01-02T15:04:05.000000Z07:00")
        const bare = yield* post(paths.events(), event({ eventTime: "2026-01-01T00:00:00.123000Z" }))
        assert.strictEqual(bare.status, 422)
        const causes = bare.body.details.causes.map((cause: { field: string }) => cause.field)
        assert.includeMembers(causes, ["reportingComponent", "reportingInstance", "action"])
        const complete = yield* post(
          paths.events(),
          event({
            eventTime: "2026-01-01T00:00:00.123000Z",
            reportingComponent: "cloudnative-mysql",
            reportingInstance: "pod-1",
            action: "Backup"
          })
        )
        assert.strictEqual(complete.status, 201)
      })
    )
  )
})

describe("built-in kinds: Leases", () => {
  it.live("api-conventions: Lease acquireTime/renewTime are MicroTime (6 fractional digits) or the write is 400", () =>
    withServer(
      Effect.gen(function* () {
        const leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
        const spec = { holderIdentity: "pod-1", leaseDurationSeconds: 15 }
        const ok = yield* post(leases, {
          metadata: { name: "l1" },
          spec: { ...spec, renewTime: "2026-01-01T00:00:00.123456Z" }
        })
        assert.strictEqual(ok.status, 201)
        const millis = yield* post(leases, {
          metadata: { name: "l2" },
          spec: { ...spec, renewTime: new Date(0).toISOString() }
        })
        assert.strictEqual(millis.status, 400)
        const renewed = yield* put(`${leases}/l1`, {
          ...ok.body,
          spec: { ...ok.body.spec, renewTime: "2026-01-01T00:00:10.000000Z" }
        })
        assert.strictEqual(renewed.status, 200)
        const stale = yield* put(`${leases}/l1`, ok.body)
        assert.strictEqual(stale.status, 409, "leader election relies on optimistic concurrency")
      })
    )
  )
})

describe("rule 9: selectors", () => {
  it.live("labels: equality- and set-based selectors (=, !=, in, notin, exists, !key)", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.backups(), backup("a", { env: "prod", tier: "gold" }))
        yield* post(paths.backups(), backup("b", { env: "dev" }))
        yield* post(paths.backups(), backup("c", {}))
        const names = (selector: string) =>
          get(`${paths.backups()}?labelSelector=${encodeURIComponent(selector)}`).pipe(
            Effect.map((reply) => reply.body.items.map((item: { metadata: { name: string } }) => item.metadata.name))
          )
        assert.deepStrictEqual(yield* names("env=prod"), ["a"])
        assert.deepStrictEqual(yield* names("env!=prod"), ["b", "c"])
        assert.deepStrictEqual(yield* names("env in (prod,dev)"), ["a", "b"])
        assert.deepStrictEqual(yield* names("env notin (prod)"), ["b", "c"])
        assert.deepStrictEqual(yield* names("tier"), ["a"])
        assert.deepStrictEqual(yield* names("!tier"), ["b", "c"])
        assert.deepStrictEqual(yield* names("env,!tier"), ["b"])
        assert.strictEqual(
          (yield* get(`${paths.backups()}?labelSelector=${encodeURIComponent("env in prod")}`)).status,
          400
        )
      })
    )
  )

  it.live("fields: metadata.name for every kind, involvedObject.* for Events; anything else is 400", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.backups(), backup("a"))
        yield* post(paths.backups(), backup("b"))
        const byName = yield* get(`${paths.backups()}?fieldSelector=metadata.name%3Db`)
        assert.deepStrictEqual(
          byName.body.items.map((item: { metadata: { name: string } }) => item.metadata.name),
          ["b"]
        )
        const unsupported = yield* get(`${paths.backups()}?fieldSelector=spec.method%3Dxtrabackup`)
        assert.strictEqual(unsupported.status, 400)
        assert.include(unsupported.body.message, "field label not supported")
        yield* post(paths.events(), {
          metadata: { name: "e1" },
          involvedObject: { kind: "Backup", namespace: "default", name: "a", uid: "u-a" },
          reason: "Started",
          type: "Normal"
        })
        yield* post(paths.events(), {
          metadata: { name: "e2" },
          involvedObject: { kind: "Backup", namespace: "default", name: "b", uid: "u-b" },
          reason: "Started",
          type: "Normal"
        })
        const forA = yield* get(
          `${paths.events()}?fieldSelector=${encodeURIComponent("involvedObject.name=a,involvedObject.kind=Backup")}`
        )
        assert.deepStrictEqual(
          forA.body.items.map((item: { metadata: { name: string } }) => item.metadata.name),
          ["e1"]
        )
      })
    )
  )
})

describe("rule 10: CRD schema from deploy/crds", () => {
  it.live("CRD validation: schema violations are 422 Invalid with one cause per field", () =>
    withServer(
      Effect.gen(function* () {
        const bad = yield* post(paths.backups(), {
          ...backup("b1"),
          spec: { cluster: { name: "Not_A_Name" }, method: "mysqldump", online: "yes" }
        })
        assert.strictEqual(bad.status, 422)
        const causes = bad.body.details.causes.map((cause: { field: string; reason: string }) => [
          cause.field,
          cause.reason
        ])
        assert.deepInclude(causes, ["spec.cluster.name", "FieldValueInvalid"])
        assert.deepInclude(causes, ["spec.method", "FieldValueNotSupported"])
        assert.deepInclude(causes, ["spec.online", "FieldValueTypeInvalid"])
        const missing = yield* post(paths.backups(), { ...backup("b2"), spec: {} })
        assert.deepInclude(missing.body.details.causes, {
          reason: "FieldValueRequired",
          message: "Required value",
          field: "spec.cluster"
        })
        const tooMany = yield* post(paths.clusters(), cluster("c1", 10))
        assert.strictEqual(tooMany.status, 422)
        assert.include(tooMany.body.message, "should be less than or equal to 9")
      })
    )
  )

  it.live("CRD pruning: fields the schema does not declare are dropped", () =>
    withServer(
      Effect.gen(function* () {
        const created = yield* post(paths.backups(), {
          ...backup("b1"),
          spec: { cluster: { name: "c", extra: 1 }, unknownField: "x" },
          topLevel: true
        })
        assert.strictEqual(created.status, 201)
        assert.deepStrictEqual(Object.keys(created.body.spec.cluster), ["name"])
        assert.isUndefined(created.body.spec.unknownField)
        assert.isUndefined(created.body.topLevel)
      })
    )
  )

  it.live("CRD defaulting: schema defaults are applied on create", () =>
    withServer(
      Effect.gen(function* () {
        const created = yield* post(paths.backups(), backup("b1"))
        assert.deepInclude(created.body.spec, { method: "xtrabackup", target: "prefer-standby", online: true })
      })
    )
  )

  it.live("CRD validation rules: x-kubernetes-validations run, including the transition rule self == oldSelf", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.backups(), backup("b1"))
        const changed = yield* mergePatch(`${paths.backups()}/b1`, { spec: { online: false } })
        assert.strictEqual(changed.status, 422)
        assert.include(changed.body.message, "Backup spec is immutable")
        const both = yield* post(paths.clusters(), {
          ...cluster("c1"),
          spec: { ...cluster("c1").spec, bootstrap: { recovery: { source: "x", backup: { name: "b" } } } }
        })
        assert.strictEqual(both.status, 422)
      })
    )
  )
})

describe("rule 11: Job defaults and immutability", () => {
  it.live("Job defaults: backoffLimit 6, completions and parallelism 1, controller-uid selector and labels", () =>
    withServer(
      Effect.gen(function* () {
        const created = (yield* post(paths.jobs(), job("j1"))).body
        const uid = created.metadata.uid
        assert.deepInclude(created.spec, {
          backoffLimit: 6,
          completions: 1,
          parallelism: 1,
          completionMode: "NonIndexed",
          suspend: false
        })
        assert.deepStrictEqual(created.spec.selector, { matchLabels: { "batch.kubernetes.io/controller-uid": uid } })
        assert.deepInclude(created.spec.template.metadata.labels, {
          "batch.kubernetes.io/controller-uid": uid,
          "batch.kubernetes.io/job-name": "j1",
          "job-name": "j1"
        })
        assert.strictEqual(created.spec.template.spec.containers[0].terminationMessagePolicy, "File")
        const always = job("j2")
        always.spec.template.spec.restartPolicy = "Always"
        const rejected = yield* post(paths.jobs(), always)
        assert.strictEqual(rejected.status, 422)
        assert.include(rejected.body.message, 'supported values: "OnFailure", "Never"')
      })
    )
  )

  it.live("Job immutability: spec.template cannot change (422 field is immutable)", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.jobs(), job("j1"))
        const patched = yield* jsonPatch(`${paths.jobs()}/j1`, [
          { op: "replace", path: "/spec/template/spec/containers/0/image", value: "busybox:2" }
        ])
        assert.strictEqual(patched.status, 422)
        assert.include(patched.body.message, "field is immutable")
        const labels = yield* mergePatch(`${paths.jobs()}/j1`, { metadata: { labels: { a: "b" } } })
        assert.strictEqual(labels.status, 200)
      })
    )
  )
})

describe("built-in kinds: Secrets and subresources", () => {
  it.live("api-conventions: Secret stringData is folded into base64 data; non-base64 data is 400", () =>
    withServer(
      Effect.gen(function* () {
        const secrets = "/api/v1/namespaces/default/secrets"
        const created = yield* post(secrets, { metadata: { name: "s3" }, stringData: { key: "AKIA" } })
        assert.strictEqual(created.status, 201)
        assert.deepStrictEqual(created.body.data, { key: Buffer.from("AKIA").toString("base64") })
        assert.isUndefined(created.body.stringData)
        assert.strictEqual(created.body.type, "Opaque")
        const bad = yield* post(secrets, { metadata: { name: "bad" }, data: { key: "not base64!" } })
        assert.strictEqual(bad.status, 400)
        assert.include(bad.body.message, "illegal base64 data")
      })
    )
  )

  it.live("api-concepts: /status exists only for kinds with a status subresource (404 otherwise)", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.configmaps(), { metadata: { name: "cm" }, data: {} })
        const reply = yield* mergePatch(`${paths.configmaps()}/cm/status`, { status: {} })
        assert.strictEqual(reply.status, 404)
      })
    )
  )
})

describe("rule 12: Job simulator and fault hooks", () => {
  it.live("Job simulator: start gives active 1 and a Running Pod; success adds SuccessCriteriaMet then Complete", () =>
    withServer(
      Effect.gen(function* () {
        const fake = yield* FakeCluster
        yield* post(paths.jobs(), job("j1"))
        const conditions = fake.watch(jobsRef, { resourceVersion: yield* fake.resourceVersion }).pipe(
          Stream.map(
            (event) =>
              (event.object.status as { conditions?: Array<{ type: string }> } | undefined)?.conditions?.map(
                (c) => c.type
              ) ?? []
          ),
          Stream.take(3),
          Stream.runCollect
        )
        const seen = yield* Effect.forkChild(conditions)
        const started = yield* fake.jobs.start("default", "j1")
        assert.deepInclude(started.status as object, { active: 1 })
        const pods = yield* fake.list(podsRef, { labelSelector: "job-name=j1" })
        assert.strictEqual(pods.items.length, 1)
        assert.strictEqual(json(pods.items[0]).status.phase, "Running")
        const done = yield* fake.jobs.finish("default", "j1", {
          result: "succeeded",
          terminationMessage: "backup-id: 2026"
        })
        const status = done.status as {
          succeeded: number
          completionTime: string
          conditions: Array<{ type: string; status: string }>
        }
        assert.strictEqual(status.succeeded, 1)
        assert.isString(status.completionTime)
        assert.deepStrictEqual(
          status.conditions.map((c) => [c.type, c.status]),
          [
            ["SuccessCriteriaMet", "True"],
            ["Complete", "True"]
          ]
        )
        assert.deepStrictEqual(yield* Fiber.join(seen), [
          [],
          ["SuccessCriteriaMet"],
          ["SuccessCriteriaMet", "Complete"]
        ])
        const pod = (yield* fake.list(podsRef, { labelSelector: "job-name=j1" })).items[0]
        const terminated = json(pod).status.containerStatuses[0].state.terminated
        assert.deepInclude(terminated, { message: "backup-id: 2026", exitCode: 0 })
        const audited = (yield* fake.audit).filter(
          (entry) => entry.verb !== "get" && entry.verb !== "list" && entry.verb !== "watch"
        )
        assert.deepStrictEqual(
          audited.map((entry) => [entry.verb, entry.plural]),
          [["create", "jobs"]],
          "the simulated Job controller's writes are not in the audit log"
        )
      })
    )
  )

  it.live(
    "Job simulator: failure adds FailureTarget then Failed (BackoffLimitExceeded), Pod terminated with the message",
    () =>
      withServer(
        Effect.gen(function* () {
          const fake = yield* FakeCluster
          yield* post(paths.jobs(), job("j1"))
          yield* fake.jobs.start("default", "j1")
          const done = yield* fake.jobs.finish("default", "j1", {
            result: "failed",
            exitCode: 2,
            terminationMessage: "upload failed"
          })
          const status = done.status as { failed: number; conditions: Array<{ type: string; reason: string }> }
          assert.strictEqual(status.failed, 1)
          assert.deepStrictEqual(
            status.conditions.map((c) => [c.type, c.reason]),
            [
              ["FailureTarget", "BackoffLimitExceeded"],
              ["Failed", "BackoffLimitExceeded"]
            ]
          )
          const pod = (yield* get(paths.pods())).body.items[0]
          assert.strictEqual(pod.status.phase, "Failed")
          assert.deepInclude(pod.status.containerStatuses[0].state.terminated, {
            exitCode: 2,
            message: "upload failed",
            reason: "Error"
          })
        })
      )
  )

  it.live("fault hooks: the next matching write fails with 409 or 500, then writes succeed again", () =>
    withServer(
      Effect.gen(function* () {
        const fake = yield* FakeCluster
        yield* post(paths.backups(), backup("b1"))
        yield* fake.faults.failNextWrite({ code: 409, verb: "patch", plural: "backups" })
        const conflicted = yield* mergePatch(`${paths.backups()}/b1/status`, { status: { phase: "running" } })
        assert.strictEqual(conflicted.status, 409)
        assert.strictEqual(conflicted.body.reason, "Conflict")
        yield* fake.faults.failNextWrite({ code: 500 })
        const broken = yield* post(paths.backups(), backup("b2"))
        assert.strictEqual(broken.status, 500)
        assert.strictEqual(broken.body.reason, "InternalError")
        assert.strictEqual((yield* post(paths.backups(), backup("b2"))).status, 201)
        const audit = yield* fake.audit
        assert.deepStrictEqual(
          audit
            .filter((entry) => entry.verb !== "get" && entry.verb !== "list")
            .map((entry) => [entry.verb, entry.subresource, entry.code]),
          [
            ["create", "", 201],
            ["patch", "status", 409],
            ["create", "", 500],
            ["create", "", 201]
          ]
        )
      })
    )
  )

  it.live("fault hooks: dropWatches ends open watch streams; stall holds requests until resume", () =>
    withServer(
      Effect.gen(function* () {
        const fake = yield* FakeCluster
        const events = yield* watch(paths.backups())
        yield* fake.faults.dropWatches
        assert.deepStrictEqual(yield* events.ended, [])
        yield* fake.faults.stall
        const pending = yield* Effect.forkChild(get(paths.backups()))
        yield* Effect.sleep("300 millis")
        assert.isUndefined(pending.pollUnsafe(), "the request is held")
        yield* fake.faults.resume
        assert.strictEqual((yield* Fiber.join(pending)).status, 200)
      })
    )
  )
})

describe("patch formats and discovery", () => {
  it.live(
    "api-concepts patch: JSON patch applies ops and a failed test op is 422; strategic merge on a CR is 415",
    () =>
      withServer(
        Effect.gen(function* () {
          yield* post(paths.clusters(), cluster("c1"))
          const ok = yield* jsonPatch(`${paths.clusters()}/c1`, [
            { op: "test", path: "/spec/instances", value: 1 },
            { op: "replace", path: "/spec/instances", value: 2 },
            { op: "add", path: "/metadata/labels", value: { a: "b" } }
          ])
          assert.strictEqual(ok.status, 200)
          assert.strictEqual(ok.body.spec.instances, 2)
          const failed = yield* jsonPatch(`${paths.clusters()}/c1`, [{ op: "test", path: "/spec/instances", value: 7 }])
          assert.strictEqual(failed.status, 422)
          const strategic = yield* call(
            "PATCH",
            `${paths.clusters()}/c1`,
            { spec: {} },
            { "Content-Type": "application/strategic-merge-patch+json" }
          )
          assert.strictEqual(strategic.status, 415)
          const apply = yield* call(
            "PATCH",
            `${paths.clusters()}/c1`,
            {},
            { "Content-Type": "application/apply-patch+yaml" }
          )
          assert.strictEqual(apply.status, 415)
          assert.include(apply.body.message, "server-side apply is not supported")
        })
      )
  )

  it.live("discovery: /api, /apis and group-version resource lists name our kinds and their status subresources", () =>
    withServer(
      Effect.gen(function* () {
        assert.deepStrictEqual((yield* get("/api")).body.versions, ["v1"])
        const groups = (yield* get("/apis")).body.groups.map((group: { name: string }) => group.name)
        assert.includeMembers(groups, ["batch", "coordination.k8s.io", "mysql.cloudnative-mysql.io"])
        const ours = (yield* get("/apis/mysql.cloudnative-mysql.io/v1alpha1")).body
        const names = ours.resources.map((resource: { name: string }) => resource.name)
        assert.includeMembers(names, ["backups", "backups/status", "clusters", "scheduledbackups"])
        const backups = ours.resources.find((resource: { name: string }) => resource.name === "backups")
        assert.deepInclude(backups, { kind: "Backup", namespaced: true, singularName: "backup" })
        assert.include(
          (yield* get("/api/v1")).body.resources.map((resource: { name: string }) => resource.name),
          "events"
        )
      })
    )
  )

  it.live("server-side printing: as=Table lists the CRD's additionalPrinterColumns", () =>
    withServer(
      Effect.gen(function* () {
        yield* post(paths.backups(), backup("b1"))
        yield* mergePatch(`${paths.backups()}/b1/status`, {
          status: { phase: "completed", backupId: "20260101T000000Z" }
        })
        const table = (yield* get(paths.backups(), {
          Accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        })).body
        assert.strictEqual(table.kind, "Table")
        const columns = table.columnDefinitions.map((column: { name: string }) => column.name)
        assert.deepStrictEqual(columns.slice(0, 7), ["Name", "Age", "Cluster", "Method", "Phase", "Backup ID", "Error"])
        const cells = table.rows[0].cells
        assert.strictEqual(cells[0], "b1")
        assert.match(cells[1], /^\d+s$/)
        assert.deepStrictEqual(cells.slice(2, 6), ["cluster-sample", "xtrabackup", "completed", "20260101T000000Z"])
      })
    )
  )
})

describe("store API (face for KubeApi.layerFake)", () => {
  it.live("the store hands out frozen objects and typed Status errors", () =>
    Effect.gen(function* () {
      const fake = yield* FakeCluster
      const created = yield* fake.create(backupsRef, backup("b1"))
      assert.isTrue(Object.isFrozen(created.metadata))
      const error = yield* fake.get(backupsRef, "missing").pipe(Effect.flip)
      assert.strictEqual(error._tag, "ApiStatusError")
      assert.strictEqual(error.status.reason, "NotFound")
    }).pipe(Effect.provide(FakeCluster.layer))
  )
})
