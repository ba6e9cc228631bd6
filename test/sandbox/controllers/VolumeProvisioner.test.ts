/**
 * PVC provisioner conformance: dynamic provisioning of host-path volumes under the sandbox's state directory,
 * bound the way the PersistentVolume controller binds, through the fake API server's HTTP face.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { KubeApi } from "../../../src/kube/KubeApi.ts"
import { Kinds, type PersistentVolumeClaim } from "../../../src/sandbox/controllers/kinds.ts"
import { controllerTest, eventually, kubectl } from "./support.ts"

const PV = "https://kubernetes.io/docs/concepts/storage/persistent-volumes/"
const DYNAMIC = "https://kubernetes.io/docs/concepts/storage/dynamic-provisioning/"

const claim = (name: string, storageClassName?: string): PersistentVolumeClaim => ({
  metadata: { namespace: "default", name },
  spec: {
    accessModes: ["ReadWriteOnce"],
    resources: { requests: { storage: "1Gi" } },
    ...(storageClassName === undefined ? {} : { storageClassName })
  }
})

const bound = (name: string) =>
  eventually(
    `${name} Bound`,
    Effect.flatMap(KubeApi, (api) =>
      Effect.map(api.get(Kinds.persistentVolumeClaims, { namespace: "default", name }), (value) =>
        value.status?.phase === "Bound" ? value : undefined
      )
    )
  )

const volumeOf = (value: PersistentVolumeClaim) =>
  Effect.flatMap(KubeApi, (api) => api.get(Kinds.persistentVolumes, { name: value.spec?.volumeName ?? "" }))

describe("PVC provisioner", () => {
  it.live(`${DYNAMIC}#defaulting-behavior: the default class standard binds a claim to a new host-path PV`, () =>
    controllerTest((directory) =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const classes = yield* eventually(
          "the default StorageClass",
          Effect.map(kubectl("get", "storageclass"), (run) => (/standard/.test(run.stdout) ? run : undefined))
        )
        assert.match(classes.stdout, /standard\s+sandbox\.cloudnative-mysql\.io\/host-path\s+Delete\s+Immediate/)
        const marked = yield* kubectl(
          "get",
          "storageclass",
          "standard",
          "-o",
          "jsonpath={.metadata.annotations.storageclass\\.kubernetes\\.io/is-default-class}"
        )
        assert.strictEqual(marked.stdout, "true")
        const created = yield* api.create(Kinds.persistentVolumeClaims, claim("data-1"))
        assert.strictEqual(created.spec?.storageClassName, "standard", "DefaultStorageClass admission")
        const done = yield* bound("data-1")
        const name = `pvc-${created.metadata.uid ?? ""}`
        assert.strictEqual(done.spec?.volumeName, name)
        assert.deepInclude(done.status ?? {}, {
          phase: "Bound",
          capacity: { storage: "1Gi" },
          accessModes: ["ReadWriteOnce"]
        })
        assert.strictEqual(done.metadata.annotations?.["pv.kubernetes.io/bind-completed"], "yes")
        const volume = yield* volumeOf(done)
        const path = join(directory, "volumes", name)
        assert.deepInclude(volume.spec ?? {}, {
          capacity: { storage: "1Gi" },
          accessModes: ["ReadWriteOnce"],
          persistentVolumeReclaimPolicy: "Delete",
          storageClassName: "standard",
          hostPath: { path, type: "Directory" }
        })
        assert.deepInclude(volume.spec?.claimRef ?? {}, {
          namespace: "default",
          name: "data-1",
          uid: created.metadata.uid ?? ""
        })
        assert.strictEqual(volume.status?.phase, "Bound")
        assert.isTrue(statSync(path).isDirectory())
        assert.strictEqual(statSync(path).mode & 0o777, 0o777)
        const listed = yield* kubectl("get", "pvc", "data-1")
        assert.match(listed.stdout, /data-1\s+Bound\s+pvc-\S+\s+1Gi\s+standard/)
      })
    )
  )

  it.live(
    `${PV}#lifecycle-of-a-volume-and-claim: the data outlives a Pod deleted and recreated on the same claim`,
    () =>
      controllerTest(() =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          yield* api.create(Kinds.persistentVolumeClaims, claim("data-2"))
          const first = yield* bound("data-2")
          const path = (yield* volumeOf(first)).spec?.hostPath?.path ?? ""
          const pod = {
            metadata: { namespace: "default", name: "db-2" },
            spec: {
              containers: [{ name: "db", image: "ghcr.io/cloudnative-mysql/instance:mariadb-10.11" }],
              volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-2" } }]
            }
          }
          yield* api.create(Kinds.pods, pod)
          writeFileSync(join(path, "ibdata1"), "rows")
          yield* api.delete(Kinds.pods, { namespace: "default", name: "db-2" })
          yield* api.create(Kinds.pods, pod)
          yield* Effect.sleep("200 millis")
          const again = yield* bound("data-2")
          assert.strictEqual(again.spec?.volumeName, first.spec?.volumeName)
          assert.strictEqual((yield* volumeOf(again)).spec?.hostPath?.path, path)
          assert.strictEqual(readFileSync(join(path, "ibdata1"), "utf8"), "rows")
        })
      )
  )

  it.live(`${PV}#delete: deleting the claim removes its directory and deletes the PV (reclaim policy Delete)`, () =>
    controllerTest(() =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        yield* api.create(Kinds.persistentVolumeClaims, claim("data-3"))
        const done = yield* bound("data-3")
        const volume = yield* volumeOf(done)
        const path = volume.spec?.hostPath?.path ?? ""
        writeFileSync(join(path, "file"), "x")
        const deleted = yield* kubectl("delete", "pvc", "data-3")
        assert.strictEqual(deleted.code, 0, deleted.stderr)
        yield* eventually(
          "the directory removed",
          Effect.sync(() => (existsSync(path) ? undefined : true))
        )
        yield* eventually(
          "the PV deleted",
          Effect.map(Effect.result(volumeOf(done)), (result) =>
            result._tag === "Failure" && result.failure._tag === "NotFound" ? true : undefined
          )
        )
      })
    )
  )

  it.live(
    `${PV}#storage-object-in-use-protection: a claim a running Pod uses stays Terminating until the Pod is gone`,
    () =>
      controllerTest(() =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          yield* api.create(Kinds.persistentVolumeClaims, claim("data-5"))
          const done = yield* bound("data-5")
          assert.include(done.metadata.finalizers ?? [], "kubernetes.io/pvc-protection")
          const path = (yield* volumeOf(done)).spec?.hostPath?.path ?? ""
          yield* api.create(Kinds.pods, {
            metadata: { namespace: "default", name: "db-5" },
            spec: {
              nodeName: "sandbox",
              containers: [{ name: "db", image: "ghcr.io/cloudnative-mysql/instance:mariadb-10.11" }],
              volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-5" } }]
            }
          })
          yield* api.patchStatus(Kinds.pods, { namespace: "default", name: "db-5" }, { status: { phase: "Running" } })
          const deleting = yield* kubectl("delete", "pvc", "data-5", "--wait=false")
          assert.strictEqual(deleting.code, 0, deleting.stderr)
          yield* Effect.sleep("300 millis")
          const held = yield* api.get(Kinds.persistentVolumeClaims, { namespace: "default", name: "data-5" })
          assert.isString(held.metadata.deletionTimestamp)
          assert.isTrue(existsSync(path), "the data stays while the Pod runs")
          // no kubelet runs here to confirm a graceful deletion of the bound Pod: delete it at once, as it would
          const podGone = yield* kubectl("delete", "pod", "db-5", "--grace-period=0", "--force")
          assert.strictEqual(podGone.code, 0, podGone.stderr)
          yield* eventually(
            "the directory removed",
            Effect.sync(() => (existsSync(path) ? undefined : true))
          )
          const gone = yield* Effect.result(
            api.get(Kinds.persistentVolumeClaims, { namespace: "default", name: "data-5" })
          )
          assert.isTrue(gone._tag === "Failure" && gone.failure._tag === "NotFound")
        })
      )
  )

  it.live(
    `${DYNAMIC}#using-dynamic-provisioning: a claim of an unknown class stays Pending with ProvisioningFailed until the class exists`,
    () =>
      controllerTest(() =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          yield* api.create(Kinds.persistentVolumeClaims, claim("data-4", "fast"))
          const described = yield* eventually(
            "the ProvisioningFailed event",
            Effect.map(kubectl("describe", "pvc", "data-4"), (run) =>
              /ProvisioningFailed/.test(run.stdout) ? run : undefined
            )
          )
          assert.match(
            described.stdout,
            /Warning\s+ProvisioningFailed\s+.*storageclass\.storage\.k8s\.io "fast" not found/
          )
          const waiting = yield* api.get(Kinds.persistentVolumeClaims, { namespace: "default", name: "data-4" })
          assert.strictEqual(waiting.status?.phase, "Pending")
          assert.isUndefined(waiting.spec?.volumeName)
          yield* api.create(Kinds.storageClasses, {
            metadata: { name: "fast" },
            provisioner: "sandbox.cloudnative-mysql.io/host-path"
          })
          const done = yield* bound("data-4")
          assert.strictEqual((yield* volumeOf(done)).spec?.storageClassName, "fast")
        })
      )
  )
})
