/**
 * Objects as the shared caches keep them (`Caches.ts`): what no reconciler reads is dropped before an object is
 * cached, and what stays is laid out compactly, its repeated strings shared. Every kind loses
 * `metadata.managedFields` (the API server's field-ownership records, often as large as the rest of the object)
 * and kubectl's `last-applied-configuration` annotation (a copy of the whole applied object); no reconciler reads
 * them and none writes a cached object back whole (status and finalizers go as merge patches).
 *
 * - A Job keeps its metadata, its `Complete` and `Failed` conditions and `active`, `startTime` and
 *   `completionTime` (what `backup/decide.ts`, `cluster/observeJob.ts` and `retention/` read). Of its Pod
 *   template only what the cleanup Job is rendered from stays (`cleanupSourceOf`: the containers' name and image,
 *   their object-store spec variable and the object-store credentials volume, which `objectStoreSecretWait.ts`
 *   also reads), and only while a reader may need it: until the Job finishes (the secret wait), and after a
 *   failure while the `abort-uploads` finalizer is held (the janitor renders the cleanup Job from it). A Job
 *   that completed, or finished without that finalizer, keeps no spec.
 * - A Pod keeps its metadata and status, never its spec (reconcilers read a Pod's metadata and status). A Job's
 *   Pod keeps only what Job readers look at: the phase, each condition's type and status, and each (init)
 *   container's name and state (a terminated container's exit code, reason and message; a waiting one's reason
 *   and message; that it runs). Other Pods (instances, the binlog archiver) keep their whole status.
 *
 * @since 0.2.0
 */
import { finalizers } from "../api/names.ts"
import type { Job, KubeObject, Pod } from "../kube/resources.ts"
import { cleanupSourceOf } from "./backup/render.ts"
import { finishedCondition } from "./jobConditions.ts"

/** kubectl's client-side apply record: the whole applied object again, as an annotation. */
export const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

/**
 * An object without `metadata.managedFields` and kubectl's last-applied annotation (the same object when it has
 * neither).
 */
export const withoutBookkeeping = <A extends KubeObject>(object: A): A => {
  const metadata = object.metadata as
    | (NonNullable<KubeObject["metadata"]> & {
        readonly managedFields?: unknown
        readonly annotations?: Readonly<Record<string, string>> | undefined
      })
    | undefined
  if (metadata === undefined) return object
  const annotations = metadata.annotations
  const lastApplied = annotations !== undefined && lastAppliedAnnotation in annotations
  if (!("managedFields" in metadata) && !lastApplied) return object
  const { managedFields: _, ...kept } = metadata
  if (!lastApplied) return { ...object, metadata: kept }
  const { [lastAppliedAnnotation]: _applied, ...otherAnnotations } = annotations
  return { ...object, metadata: { ...kept, annotations: otherAnnotations } }
}

/** Whether a reader may still need the Job's template (see the module comment). */
const keepsTemplate = (job: Job): boolean => {
  const finished = finishedCondition(job)
  return (
    finished === undefined ||
    (finished.type === "Failed" && (job.metadata.finalizers ?? []).includes(finalizers.abortUploads))
  )
}

type JobStatus = NonNullable<Job["status"]>

/** A Job as the caches keep it (see the module comment). */
export const jobForCache = (job: Job): Job => {
  const kept = withoutBookkeeping(job)
  const template = kept.spec?.template
  const status = kept.status
  const reducedStatus: JobStatus | undefined =
    status === undefined
      ? undefined
      : {
          ...(status.active === undefined ? {} : { active: status.active }),
          ...(status.startTime === undefined ? {} : { startTime: status.startTime }),
          ...(status.completionTime === undefined ? {} : { completionTime: status.completionTime }),
          ...(status.conditions === undefined
            ? {}
            : {
                conditions: status.conditions
                  .filter((c) => c.type === "Complete" || c.type === "Failed")
                  .map(({ lastProbeTime: _, ...condition }) => condition)
              })
        }
  const spec = template?.spec === undefined || !keepsTemplate(kept) ? undefined : cleanupSourceOf(template.spec)
  return {
    apiVersion: kept.apiVersion,
    kind: kept.kind,
    metadata: kept.metadata,
    ...(spec === undefined ? {} : { spec: { template: { spec } } }),
    ...(reducedStatus === undefined ? {} : { status: reducedStatus })
  } as Job
}

type PodStatus = NonNullable<Pod["status"]>
type ContainerStatus = NonNullable<PodStatus["containerStatuses"]>[number]
type State = {
  readonly running?: unknown
  readonly terminated?: { readonly exitCode: number; readonly reason?: string; readonly message?: string }
  readonly waiting?: { readonly reason?: string; readonly message?: string }
}

const stateForCache = (state: State | undefined): State | undefined => {
  if (state === undefined) return undefined
  const { running, terminated, waiting } = state
  return {
    ...(running === undefined ? {} : { running: {} }),
    ...(terminated === undefined
      ? {}
      : {
          terminated: {
            exitCode: terminated.exitCode,
            ...(terminated.reason === undefined ? {} : { reason: terminated.reason }),
            ...(terminated.message === undefined ? {} : { message: terminated.message })
          }
        }),
    ...(waiting === undefined
      ? {}
      : {
          waiting: {
            ...(waiting.reason === undefined ? {} : { reason: waiting.reason }),
            ...(waiting.message === undefined ? {} : { message: waiting.message })
          }
        })
  }
}

const containersForCache = (statuses: ReadonlyArray<ContainerStatus> | undefined) =>
  statuses?.map((container) => {
    const state = stateForCache(container.state as State | undefined)
    return { name: container.name, ...(state === undefined ? {} : { state }) } as ContainerStatus
  })

/** Whether a Pod is a Job's (backup, cleanup, recovery, retention), not a Cluster's own (instances, archiver). */
export const ownedByJob = (pod: Pod): boolean =>
  (pod.metadata.ownerReferences ?? []).some((owner) => owner.kind === "Job" && owner.controller === true)

/** A Pod as the caches keep it (see the module comment). */
export const podForCache = (pod: Pod): Pod => {
  const { spec: _, ...kept } = withoutBookkeeping(pod)
  const status = kept.status as
    | (PodStatus & { readonly initContainerStatuses?: ReadonlyArray<ContainerStatus> })
    | undefined
  if (status === undefined || !ownedByJob(kept)) return kept
  const containers = containersForCache(status.containerStatuses)
  const initContainers = containersForCache(status.initContainerStatuses)
  return {
    ...kept,
    status: {
      ...(status.phase === undefined ? {} : { phase: status.phase }),
      ...(status.conditions === undefined
        ? {}
        : { conditions: status.conditions.map(({ type, status }) => ({ type, status })) }),
      ...(containers === undefined ? {} : { containerStatuses: containers }),
      ...(initContainers === undefined ? {} : { initContainerStatuses: initContainers })
    } as PodStatus
  }
}

/**
 * Strings shared by the cached objects: namespaces, labels, owner kinds, images, condition reasons, timestamps
 * repeat in thousands of objects, and `JSON.parse` gives each object its own copies. Two generations of at most
 * `generationSize` strings each: a string seen again in the previous generation moves to the current one, and
 * when the current one is full the previous one is dropped, so what the table itself holds is bounded while
 * the strings that keep recurring stay shared. The strings of evicted entries stay in the objects that use them.
 */
export class StringTable {
  private current = new Map<string, string>()
  private previous = new Map<string, string>()
  private readonly generationSize: number

  constructor(generationSize: number) {
    this.generationSize = generationSize
  }

  intern(value: string): string {
    const found = this.current.get(value)
    if (found !== undefined) return found
    const kept = this.previous.get(value) ?? value
    if (this.current.size >= this.generationSize) {
      this.previous = this.current
      this.current = new Map()
    }
    this.current.set(kept, kept)
    return kept
  }
}

// a string this long is rarely shared (a termination message, an object-store spec): not worth a table entry
const maxInternedLength = 128
// unique per object: sharing them saves nothing and would evict the strings that are shared
const uniqueFields: ReadonlySet<string> = new Set(["uid", "resourceVersion"])

/**
 * The same JSON value, laid out compactly with its strings shared through `strings`: V8 builds what
 * `JSON.parse` returns with exact-size arrays and the properties inside the objects, while the Schema decoder
 * assembles objects field by field and arrays by `push`, which leaves property backing stores and spare array
 * capacity in every object for as long as it is cached. The kinds' Schemas decode to JSON values, so nothing
 * else changes.
 */
export const compacted = <A>(object: A, strings?: StringTable): A =>
  strings === undefined
    ? (JSON.parse(JSON.stringify(object)) as A)
    : (JSON.parse(JSON.stringify(object), (key, value: unknown) =>
        typeof value === "string" && value.length <= maxInternedLength && !uniqueFields.has(key)
          ? strings.intern(value)
          : value
      ) as A)
