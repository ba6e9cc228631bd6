import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { fromStatus } from "../../src/kube/errors.ts"
import { fromRaw, type RawKubeApi } from "../../src/kube/KubeApi.ts"
import { Resources } from "../../src/kube/resources.ts"

const status = (code: number, reason: string, extra: object = {}) =>
  JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message: `m${code}`, reason, code, ...extra })

describe("fromStatus", () => {
  it("classifies Status bodies the way controllers branch on them", () => {
    const cases: ReadonlyArray<readonly [number, string, string]> = [
      [404, status(404, "NotFound"), "NotFound"],
      [409, status(409, "AlreadyExists"), "AlreadyExists"],
      [409, status(409, "Conflict"), "Conflict"],
      [422, status(422, "Invalid"), "Invalid"],
      [410, status(410, "Expired"), "Gone"],
      [403, status(403, "Forbidden"), "Forbidden"],
      [401, status(401, "Unauthorized"), "Forbidden"],
      [429, status(429, "TooManyRequests"), "Unavailable"],
      [500, status(500, "InternalError"), "Unavailable"],
      [503, "upstream connect error", "Unavailable"],
      [415, status(415, "UnsupportedMediaType"), "KubeRequestFailed"],
      [400, status(400, "BadRequest"), "KubeRequestFailed"]
    ]
    for (const [code, body, tag] of cases) {
      assert.strictEqual(fromStatus("GET x", code, body)._tag, tag, `${code} ${body}`)
    }
  })

  it("keeps the server's message, field causes and retry hint", () => {
    const invalid = fromStatus(
      "POST jobs db/x",
      422,
      status(422, "Invalid", {
        details: { causes: [{ reason: "FieldValueTooLong", field: "metadata.name", message: "too long" }] }
      })
    )
    assert.strictEqual(invalid._tag, "Invalid")
    assert.deepStrictEqual(invalid._tag === "Invalid" ? invalid.causes : [], [
      { reason: "FieldValueTooLong", field: "metadata.name", message: "too long" }
    ])
    assert.include(invalid.message, "m422")
    const throttled = fromStatus("GET x", 429, status(429, "TooManyRequests", { details: { retryAfterSeconds: 3 } }))
    assert.strictEqual(throttled._tag === "Unavailable" ? throttled.retryAfterSeconds : undefined, 3)
    // the code inside a watch ERROR event's Status wins over the transport code
    assert.strictEqual(fromStatus("WATCH x", 200, { kind: "Status", code: 410, reason: "Expired" })._tag, "Gone")
  })
})

/** A raw API whose every read returns the given objects. */
const rawReturning = (objects: ReadonlyArray<unknown>): RawKubeApi => ({
  get: () => Effect.succeed(objects[0]),
  list: () => Effect.succeed({ items: objects, resourceVersion: "7" }),
  create: (_resource, _namespace, body) => Effect.succeed(body),
  replace: (_resource, _ref, body) => Effect.succeed(body),
  patch: () => Effect.succeed(objects[0]),
  delete: () => Effect.void,
  watch: () =>
    Stream.fromIterable([
      ...objects.map((object) => ({ type: "ADDED" as const, object })),
      { type: "BOOKMARK" as const, object: { metadata: { resourceVersion: "9" } } }
    ])
})

const goodJob = {
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { namespace: "db", name: "good", resourceVersion: "5" },
  spec: { template: { spec: { containers: [{ name: "c", image: "i", env: [{ name: "X", value: "1" }] }] } } },
  status: { conditions: [{ type: "Complete", status: "True", lastTransitionTime: null }] }
}
const badJob = {
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { namespace: "db", name: "bad" },
  spec: { template: 42 }
}

describe("fromRaw (typed layer)", () => {
  it.effect("get fails with MalformedObject when the schema rejects the object", () =>
    Effect.gen(function* () {
      const api = fromRaw(rawReturning([badJob]))
      const error = yield* Effect.flip(api.get(Resources.jobs, { namespace: "db", name: "bad" }))
      assert.strictEqual(error._tag, "MalformedObject")
      assert.include(error.message, "jobs db/bad")
    })
  )

  it.effect("list and watch skip objects the schema rejects and keep the good ones, unknown fields included", () =>
    Effect.gen(function* () {
      const api = fromRaw(rawReturning([goodJob, badJob]))
      const list = yield* api.list(Resources.jobs, { namespace: "db" })
      assert.deepStrictEqual(
        list.items.map((job) => job.metadata.name),
        ["good"]
      )
      assert.strictEqual(list.resourceVersion, "7")
      const container = list.items[0]?.spec?.template.spec?.containers[0] as { readonly env?: unknown } | undefined
      assert.deepStrictEqual(container?.env, [{ name: "X", value: "1" }])
      const events = yield* Stream.runCollect(api.watch(Resources.jobs, { namespace: "db" }))
      assert.deepStrictEqual(
        events.map((event) =>
          event.type === "BOOKMARK"
            ? `BOOKMARK ${event.resourceVersion}`
            : `${event.type} ${event.object.metadata.name}`
        ),
        ["ADDED good", "BOOKMARK 9"]
      )
    })
  )

  it.effect("create fills in apiVersion and kind from the descriptor", () =>
    Effect.gen(function* () {
      const api = fromRaw(rawReturning([]))
      const created = yield* api.create(Resources.jobs, { metadata: { namespace: "db", name: "n" } })
      assert.strictEqual(created.apiVersion, "batch/v1")
      assert.strictEqual(created.kind, "Job")
    })
  )
})
