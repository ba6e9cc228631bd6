/**
 * What the Backup reconciler looks at, read from the shared caches: the Backup, its Cluster, its backup Job and
 * cleanup Job (by their deterministic names, whoever owns them), those Jobs' Pods, and the kubelet's `FailedMount`
 * Events of a backup Job Pod that waits for its object-store Secret (`objectStoreSecretWait.ts`).
 *
 * The caches lag behind the reconciler's own writes by one watch event. `RecentWrites` bridges that gap: the
 * objects this process just wrote stand in for the cached ones until the cache has caught up (or 30 s passed),
 * so the next reconcile neither re-creates a Job it just created nor computes a status from the version its
 * own status write replaced (which the resourceVersion lock would refuse with a Conflict anyway).
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import type { Backup } from "../../api/backup.ts"
import type { Cluster } from "../../api/cluster.ts"
import { backupJobName, cleanupJobName } from "../../api/names.ts"
import { type Job, type KubeObject, keyOf, type Pod, parseKey } from "../../kube/resources.ts"
import { Caches, indexes, ownerIndexValue } from "../Caches.ts"
import { finishedCondition } from "../jobConditions.ts"
import { type SecretWait, secretWaitOfJob } from "../objectStoreSecretWait.ts"

/** Everything one Backup reconcile decides from. */
export interface BackupObservation {
  /** `namespace/name` of the Backup (it may be gone). */
  readonly key: string
  readonly backup: Backup | undefined
  readonly cluster: Cluster | undefined
  readonly job: Job | undefined
  readonly jobPods: ReadonlyArray<Pod>
  /** What the backup Job's Pod waits for when the kubelet cannot mount its object-store Secret. */
  readonly jobSecretWait?: SecretWait | undefined
  readonly cleanupJob: Job | undefined
  readonly cleanupPods: ReadonlyArray<Pod>
}

interface Entry {
  readonly before: string | undefined
  readonly after: KubeObject
  readonly at: number
}

const lifetimeMillis = 30_000

/** The objects this process wrote recently (see the module comment). */
export class RecentWrites {
  private readonly entries = new Map<string, Entry>()

  /** Records a write: `before` is the resourceVersion the write replaced (`undefined` for a create). */
  remember(kind: string, before: string | undefined, after: KubeObject): Effect.Effect<void> {
    return Effect.map(Clock.currentTimeMillis, (at) => {
      this.entries.set(`${kind}:${keyOf(after)}`, { before, after, at })
    })
  }

  /** The cached object, or the one written since when the cache has not caught up. */
  resolve<A extends KubeObject>(kind: string, key: string, cached: Option.Option<A>): Effect.Effect<A | undefined> {
    return Effect.map(Clock.currentTimeMillis, (now) => {
      const id = `${kind}:${key}`
      const entry = this.entries.get(id)
      const current = Option.getOrUndefined(cached)
      if (entry === undefined) return current
      const cachedVersion = current?.metadata?.resourceVersion
      const stale = current === undefined ? entry.before === undefined : cachedVersion === entry.before
      if (stale && now - entry.at < lifetimeMillis) return entry.after as A
      this.entries.delete(id)
      return current
    })
  }

  /** Forgets everything about an object (it was deleted). */
  forget(kind: string, key: string): void {
    this.entries.delete(`${kind}:${key}`)
  }

  get size(): number {
    return this.entries.size
  }
}

/** Reads the observation of one Backup key. */
export const observeBackup = (key: string, writes: RecentWrites) =>
  Effect.gen(function* () {
    const caches = yield* Caches
    const { namespace, name } = parseKey(key)
    const ns = namespace ?? ""
    const backup = yield* writes.resolve("Backup", key, yield* caches.backups.get(key))
    const clusterKey = backup === undefined ? undefined : `${ns}/${backup.spec.cluster.name}`
    const cluster = clusterKey === undefined ? undefined : Option.getOrUndefined(yield* caches.clusters.get(clusterKey))
    const jobKey = `${ns}/${backupJobName(name)}`
    const cleanupKey = `${ns}/${cleanupJobName(name)}`
    const job = yield* writes.resolve("Job", jobKey, yield* caches.jobs.get(jobKey))
    const cleanupJob = yield* writes.resolve("Job", cleanupKey, yield* caches.jobs.get(cleanupKey))
    const podsOf = (jobName: string) => caches.pods.byIndex(indexes.podsByOwner, ownerIndexValue("Job", ns, jobName))
    const jobPods = job === undefined ? [] : yield* podsOf(backupJobName(name))
    const jobSecretWait =
      job === undefined || finishedCondition(job) !== undefined ? undefined : yield* secretWaitOfJob(job, jobPods)
    return {
      key,
      backup,
      cluster,
      job,
      jobPods,
      ...(jobSecretWait === undefined ? {} : { jobSecretWait }),
      cleanupJob,
      cleanupPods: cleanupJob === undefined ? [] : yield* podsOf(cleanupJobName(name))
    } satisfies BackupObservation
  })
