/**
 * Garbage collector conformance: cascading deletion through ownerReferences, run by the sandbox's
 * continuously running collector against the fake API server's HTTP face (client-node and kubectl).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { KubeApi } from "../../../src/kube/KubeApi.ts"
import { type ObjectRef, Resources } from "../../../src/kube/resources.ts"
import { controllerTest, eventually, kubectl } from "./support.ts"

const GC = "https://kubernetes.io/docs/concepts/architecture/garbage-collection/"
const CASCADE = "https://kubernetes.io/docs/tasks/administer-cluster/use-cascading-deletion/"

const configMaps = {
  group: "",
  version: "v1",
  plural: "configmaps",
  kind: "ConfigMap",
  namespaced: true,
  schema: Resources.secrets.schema
} as const

const ownerAndDependent = (blockOwnerDeletion: boolean, dependentFinalizers: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const owner = yield* api.create(configMaps, { metadata: { namespace: "default", name: "owner" } })
    const dependent = yield* api.create(configMaps, {
      metadata: {
        namespace: "default",
        name: "dependent",
        finalizers: [...dependentFinalizers],
        ownerReferences: [
          { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata.uid ?? "", blockOwnerDeletion }
        ]
      }
    })
    return { owner, dependent }
  })

const gone = (name: string) =>
  eventually(
    `${name} deleted`,
    Effect.flatMap(KubeApi, (api) =>
      Effect.map(Effect.result(api.get(configMaps, { namespace: "default", name })), (result) =>
        result._tag === "Failure" && result.failure._tag === "NotFound" ? true : undefined
      )
    )
  )

const read = (ref: ObjectRef) => Effect.flatMap(KubeApi, (api) => api.get(configMaps, ref))

describe("garbage collector", () => {
  it.live(`${GC}#background-deletion: the owner goes at once, the collector deletes its dependents`, () =>
    controllerTest(() =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        yield* ownerAndDependent(false)
        yield* api.delete(configMaps, { namespace: "default", name: "owner" }, { propagationPolicy: "Background" })
        yield* gone("dependent")
      })
    )
  )

  it.live(
    `${CASCADE}#use-foreground-cascading-deletion: the owner waits for blocking dependents (kubectl --cascade=foreground)`,
    () =>
      controllerTest(() =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          yield* ownerAndDependent(true, ["example.com/hold"])
          const deleting = yield* kubectl("delete", "configmap", "owner", "--cascade=foreground", "--wait=false")
          assert.strictEqual(deleting.code, 0, deleting.stderr)
          const dependent = yield* eventually(
            "dependent marked for deletion",
            Effect.map(read({ namespace: "default", name: "dependent" }), (object) =>
              object.metadata.deletionTimestamp === undefined ? undefined : object
            )
          )
          const owner = yield* read({ namespace: "default", name: "owner" })
          assert.isString(owner.metadata.deletionTimestamp)
          assert.deepStrictEqual(owner.metadata.finalizers, ["foregroundDeletion"])
          assert.include(dependent.metadata.finalizers ?? [], "example.com/hold")
          // the collector edits the dependent's finalizers too: patch without a resourceVersion precondition
          yield* api.patch(configMaps, { namespace: "default", name: "dependent" }, { metadata: { finalizers: null } })
          yield* gone("dependent")
          yield* gone("owner")
        })
      )
  )

  it.live(
    `${CASCADE}#set-orphan-deletion-policy: kubectl --cascade=orphan keeps the dependents and strips the reference`,
    () =>
      controllerTest(() =>
        Effect.gen(function* () {
          yield* ownerAndDependent(true)
          const deleting = yield* kubectl("delete", "configmap", "owner", "--cascade=orphan")
          assert.strictEqual(deleting.code, 0, deleting.stderr)
          yield* gone("owner")
          const dependent = yield* read({ namespace: "default", name: "dependent" })
          assert.isUndefined(dependent.metadata.ownerReferences)
          assert.isUndefined(dependent.metadata.deletionTimestamp)
        })
      )
  )

  it.live(
    `${GC}#owners-dependents: a dependent whose owner does not exist (or has another uid) is deleted; live owners are kept`,
    () =>
      controllerTest(() =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const live = yield* api.create(configMaps, { metadata: { namespace: "default", name: "live" } })
          const ref = (name: string, uid: string) => ({ apiVersion: "v1", kind: "ConfigMap", name, uid })
          yield* api.create(configMaps, {
            metadata: { namespace: "default", name: "orphaned", ownerReferences: [ref("nobody", "0000")] }
          })
          yield* api.create(configMaps, {
            metadata: { namespace: "default", name: "impostor", ownerReferences: [ref("live", "1111")] }
          })
          yield* api.create(configMaps, {
            metadata: {
              namespace: "default",
              name: "shared",
              ownerReferences: [ref("live", live.metadata.uid ?? ""), ref("nobody", "0000")]
            }
          })
          yield* gone("orphaned")
          yield* gone("impostor")
          const shared = yield* eventually(
            "the dangling reference removed",
            Effect.map(read({ namespace: "default", name: "shared" }), (object) =>
              object.metadata.ownerReferences?.length === 1 ? object : undefined
            )
          )
          assert.strictEqual(shared.metadata.ownerReferences?.[0]?.name, "live")
        })
      )
  )
})
