/**
 * Dynamic provisioning for the sandbox: the PersistentVolume controller's binding plus a host-path
 * provisioner, in one controller. The sandbox's default StorageClass `standard` (created at start, annotated
 * default, `volumeBindingMode: Immediate`, reclaim policy `Delete`) names this provisioner; the API server's
 * DefaultStorageClass admission gives it to claims that name no class.
 *
 * A claim of a class this provisioner serves gets a directory `<stateDirectory>/volumes/pvc-<claim uid>` and
 * a `PersistentVolume` `pvc-<claim uid>` whose `spec.hostPath.path` is that directory (the node agent mounts a
 * claim by following claim → `spec.volumeName` → PV → `spec.hostPath.path`); then the claim is bound
 * (`spec.volumeName`, the bind annotations, `status.phase: Bound`, `capacity` = the request, `accessModes`).
 * The directory lives as long as the claim: a Pod deleted and recreated on the same claim finds its data.
 * When the claim is deleted, the volume is released and, with reclaim policy `Delete`, its directory is
 * removed and the PV deleted (`Retain` leaves both, the PV `Released`).
 *
 * A claim with no class, an unknown class, or another provisioner's class stays `Pending` with the Event
 * the real controller writes (`FailedBinding`, `ProvisioningFailed`, `ExternalProvisioning`); a class
 * created later provisions it.
 *
 * Storage-object-in-use protection: a bound claim carries the `kubernetes.io/pvc-protection` finalizer, removed
 * once the claim is being deleted and no scheduled, unfinished Pod uses it — so deleting a claim under a running
 * database waits for the Pod instead of pulling its data directory away. (The real API server adds the finalizer
 * at admission; here binding adds it, so stores without the controllers running keep deleting claims at once.)
 *
 * @since 0.1.0
 */
import { chmod, mkdir, rm } from "node:fs/promises"
import { join, resolve, sep } from "node:path"
import { Data, Effect } from "effect"
import { makeEventRecorder } from "../../kube/EventRecorder.ts"
import type { KubeError } from "../../kube/errors.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import { parseKey } from "../../kube/resources.ts"
import {
  ignoreNotFound,
  isDeleting,
  isTerminal,
  type RunningController,
  startInformer,
  startQueue
} from "./informer.ts"
import { Kinds, type PersistentVolume, type PersistentVolumeClaim } from "./kinds.ts"

/** The provisioner name the sandbox's StorageClass names. */
export const hostPathProvisioner = "sandbox.cloudnative-mysql.io/host-path"

/** The sandbox's default StorageClass. */
export const defaultStorageClass = "standard"

/** A volume directory could not be created or removed. */
export class VolumeDirectoryError extends Data.TaggedError("VolumeDirectoryError")<{
  readonly path: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `volume directory ${this.path}: ${String(this.cause)}`
  }
}

/** The finalizer that keeps a claim while a Pod uses it. */
export const claimProtectionFinalizer = "kubernetes.io/pvc-protection"

const claimKey = (key: string) => `claim:${key}`
const volumeKey = (name: string) => `volume:${name}`
const DEFAULT_CLASS = "class:default"

/** The PV name external provisioners use: `pvc-<claim uid>`. */
const volumeNameOf = (claim: PersistentVolumeClaim) => `pvc-${claim.metadata.uid ?? ""}`

/** Starts the provisioner in the current scope; volumes go under `<stateDirectory>/volumes`. */
export const startVolumeProvisioner = (stateDirectory: string) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const recorder = yield* makeEventRecorder({ component: "persistentvolume-controller" })
    const volumes = resolve(stateDirectory, "volumes")

    const fs = <A>(path: string, run: () => Promise<A>) =>
      Effect.tryPromise({ try: run, catch: (cause) => new VolumeDirectoryError({ path, cause }) })

    const createDirectory = (path: string) =>
      Effect.andThen(
        fs(path, () => mkdir(path, { recursive: true })),
        // world-writable as the local-path provisioner makes it: the Pod's user, not root, writes here
        fs(path, () => chmod(path, 0o777))
      )

    const removeDirectory = (path: string) =>
      // never outside the volumes directory, whatever a PV object says
      resolve(path).startsWith(volumes + sep)
        ? fs(path, () => rm(path, { recursive: true, force: true }))
        : Effect.logWarning("not removing a volume path outside the sandbox's volumes directory", { path })

    const ensureDefaultClass = Effect.gen(function* () {
      const existing = yield* ignoreNotFound(api.get(Kinds.storageClasses, { name: defaultStorageClass }))
      if (existing !== undefined) return
      yield* api
        .create(Kinds.storageClasses, {
          metadata: {
            name: defaultStorageClass,
            annotations: { "storageclass.kubernetes.io/is-default-class": "true" }
          },
          provisioner: hostPathProvisioner,
          reclaimPolicy: "Delete",
          volumeBindingMode: "Immediate"
        })
        .pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
    })

    const pending = (claim: PersistentVolumeClaim, type: "Normal" | "Warning", reason: string, message: string) =>
      recorder.record(Kinds.persistentVolumeClaims, claim, type, reason, message)

    const provision = (claim: PersistentVolumeClaim) =>
      Effect.gen(function* () {
        const className = claim.spec?.storageClassName
        if (className === undefined || className === null || className === "") {
          return yield* pending(
            claim,
            "Normal",
            "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set"
          )
        }
        const storageClass = yield* ignoreNotFound(api.get(Kinds.storageClasses, { name: className }))
        if (storageClass === undefined) {
          return yield* pending(
            claim,
            "Warning",
            "ProvisioningFailed",
            `storageclass.storage.k8s.io "${className}" not found`
          )
        }
        if (storageClass.provisioner !== hostPathProvisioner) {
          return yield* pending(
            claim,
            "Normal",
            "ExternalProvisioning",
            `Waiting for a volume to be created either by the external provisioner '${storageClass.provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`
          )
        }
        const request = claim.spec?.resources?.requests?.storage
        if (request === undefined) {
          return yield* pending(claim, "Warning", "ProvisioningFailed", "the claim requests no storage")
        }
        const name = volumeNameOf(claim)
        const path = join(volumes, name)
        yield* createDirectory(path)
        const namespace = claim.metadata.namespace ?? ""
        const accessModes = claim.spec?.accessModes ?? ["ReadWriteOnce"]
        const volume: PersistentVolume = {
          metadata: { name, annotations: { "pv.kubernetes.io/provisioned-by": hostPathProvisioner } },
          spec: {
            capacity: { storage: request },
            accessModes,
            persistentVolumeReclaimPolicy: storageClass.reclaimPolicy ?? "Delete",
            storageClassName: className,
            volumeMode: claim.spec?.volumeMode ?? "Filesystem",
            hostPath: { path, type: "Directory" },
            claimRef: {
              apiVersion: "v1",
              kind: "PersistentVolumeClaim",
              namespace,
              name: claim.metadata.name ?? "",
              uid: claim.metadata.uid ?? ""
            }
          }
        }
        yield* api.create(Kinds.persistentVolumes, volume).pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
        yield* api.patchStatus(Kinds.persistentVolumes, { name }, { status: { phase: "Bound" } })
        const ref = { namespace, name: claim.metadata.name ?? "" }
        yield* api.patch(Kinds.persistentVolumeClaims, ref, {
          metadata: {
            finalizers: [
              ...(claim.metadata.finalizers ?? []).filter((item) => item !== claimProtectionFinalizer),
              claimProtectionFinalizer
            ],
            resourceVersion: claim.metadata.resourceVersion,
            annotations: {
              "pv.kubernetes.io/bind-completed": "yes",
              "pv.kubernetes.io/bound-by-controller": "yes",
              "volume.kubernetes.io/storage-provisioner": hostPathProvisioner,
              "volume.beta.kubernetes.io/storage-provisioner": hostPathProvisioner
            }
          },
          spec: { volumeName: name }
        })
        yield* api.patchStatus(Kinds.persistentVolumeClaims, ref, {
          status: { phase: "Bound", capacity: { storage: request }, accessModes }
        })
        yield* pending(claim, "Normal", "ProvisioningSucceeded", `Successfully provisioned volume ${name}`)
      })

    /** A scheduled Pod that has not finished and mounts the claim keeps it. */
    const inUse = (claim: PersistentVolumeClaim) =>
      Effect.map(api.list(Kinds.pods, { namespace: claim.metadata.namespace }), (list) =>
        list.items.some(
          (pod) =>
            (pod.spec?.nodeName ?? "") !== "" &&
            !isTerminal(pod) &&
            (pod.spec?.volumes ?? []).some((volume) => volume.persistentVolumeClaim?.claimName === claim.metadata.name)
        )
      )

    const releaseClaim = (claim: PersistentVolumeClaim) =>
      Effect.gen(function* () {
        if (!(claim.metadata.finalizers ?? []).includes(claimProtectionFinalizer)) return
        if (yield* inUse(claim)) return
        yield* ignoreNotFound(
          api.patch(
            Kinds.persistentVolumeClaims,
            { namespace: claim.metadata.namespace, name: claim.metadata.name ?? "" },
            {
              metadata: {
                finalizers: (claim.metadata.finalizers ?? []).filter((item) => item !== claimProtectionFinalizer),
                resourceVersion: claim.metadata.resourceVersion
              }
            }
          )
        )
      })

    const reconcileClaim = (key: string) =>
      Effect.gen(function* () {
        const claim = yield* ignoreNotFound(api.get(Kinds.persistentVolumeClaims, parseKey(key)))
        if (claim === undefined) return
        if (isDeleting(claim)) return yield* releaseClaim(claim)
        if (claim.status?.phase === "Bound" && claim.spec?.volumeName !== undefined) return
        yield* provision(claim)
      })

    const reconcileVolume = (name: string) =>
      Effect.gen(function* () {
        const volume = yield* ignoreNotFound(api.get(Kinds.persistentVolumes, { name }))
        if (
          volume === undefined ||
          volume.metadata.annotations?.["pv.kubernetes.io/provisioned-by"] !== hostPathProvisioner
        )
          return
        const claimRef = volume.spec?.claimRef
        const claim =
          claimRef === undefined
            ? undefined
            : yield* ignoreNotFound(
                api.get(Kinds.persistentVolumeClaims, { namespace: claimRef.namespace, name: claimRef.name ?? "" })
              )
        if (claim !== undefined && claim.metadata.uid === claimRef?.uid) return
        if (volume.spec?.persistentVolumeReclaimPolicy !== "Delete") {
          yield* api.patchStatus(Kinds.persistentVolumes, { name }, { status: { phase: "Released" } })
          return
        }
        const path = volume.spec?.hostPath?.path
        if (path !== undefined) yield* removeDirectory(path)
        yield* ignoreNotFound(
          api.delete(Kinds.persistentVolumes, { name }, { preconditions: { uid: volume.metadata.uid ?? "" } })
        )
      })

    const reconcile = (key: string): Effect.Effect<void, KubeError | VolumeDirectoryError> => {
      if (key === DEFAULT_CLASS) return ensureDefaultClass
      if (key.startsWith("claim:")) return reconcileClaim(key.slice("claim:".length))
      return reconcileVolume(key.slice("volume:".length))
    }

    const queue = yield* startQueue("persistentvolume-controller", (key) =>
      reconcile(key).pipe(Effect.withSpan("VolumeProvisioner.reconcile", { attributes: { key } }))
    )
    yield* queue.add(DEFAULT_CLASS)
    const claims = yield* startInformer(Kinds.persistentVolumeClaims, (event) =>
      event.type === "Deleted" ? queue.add(volumeKey(volumeNameOf(event.object))) : queue.add(claimKey(event.key))
    )
    // a Pod that stops or goes may free a claim being deleted
    const pods = yield* startInformer(Kinds.pods, (event) =>
      Effect.forEach(
        event.object.spec?.volumes ?? [],
        (volume) =>
          volume.persistentVolumeClaim === undefined
            ? Effect.void
            : queue.add(claimKey(`${event.object.metadata.namespace ?? ""}/${volume.persistentVolumeClaim.claimName}`)),
        { discard: true }
      )
    )
    const persistentVolumes = yield* startInformer(Kinds.persistentVolumes, (event) => queue.add(volumeKey(event.key)))
    // a class that appears (or changes) may provision claims that were waiting for it
    const classes = yield* startInformer(Kinds.storageClasses, () =>
      Effect.flatMap(claims.list(), (all) =>
        Effect.forEach(
          all.filter((claim) => claim.status?.phase !== "Bound"),
          (claim) => queue.add(claimKey(`${claim.metadata.namespace ?? ""}/${claim.metadata.name ?? ""}`)),
          { discard: true }
        )
      )
    )
    return {
      synced: Effect.all([claims.synced, pods.synced, persistentVolumes.synced, classes.synced], { discard: true })
    } satisfies RunningController
  })
