/**
 * A Pod that waits for its object-store Secret: the kubelet cannot set up the projected `object-store` volume
 * (`objectStoreAccess.ts`) while a referenced Secret or key is missing, so the Pod stays `ContainerCreating` and
 * the only report is a `FailedMount` Event on the Pod, repeated while the kubelet retries:
 *
 * - `MountVolume.SetUp failed for volume "object-store" : secret "s3-creds" not found`
 * - `MountVolume.SetUp failed for volume "object-store" : references non-existent secret key: accessKeyId`
 * - several at once as `[…, …]` (the kubelet's aggregate error)
 *
 * The kubelet names the missing key but not its Secret; the Pod template's volume says which Secret each key
 * comes from (the cached Job keeps it, a cached Pod has no spec). The controller reads these Events and the
 * template only, never a Secret: it holds no object-store credentials (docs/design.md). The Pod starts by itself
 * once the Secret is created, so the wait is reported, not acted on.
 *
 * @since 0.2.0
 */
import { Effect } from "effect"
import { KubeApi } from "../kube/KubeApi.ts"
import { type Event, type Job, type Pod, Resources } from "../kube/resources.ts"
import { objectStoreVolumeName } from "./objectStoreAccess.ts"

/** The stable reason of a Pod waiting for an object-store Secret or key (condition, Event, Backup failure). */
export const objectStoreSecretMissing = "ObjectStoreSecretMissing"

/** What a Pod waits for, in the words status and Events use. */
export interface SecretWait {
  readonly reason: typeof objectStoreSecretMissing
  readonly message: string
}

type ProjectedSecret = { readonly secret?: { readonly name?: string; readonly items?: ReadonlyArray<{ key: string }> } }
type ProjectedVolume = {
  readonly name?: string
  readonly projected?: { readonly sources?: ReadonlyArray<ProjectedSecret> }
}

/** The Secret keys the template's object-store volume projects: Secret name and key. */
const projectedKeys = (template: unknown): ReadonlyArray<{ readonly secret: string; readonly key: string }> =>
  ((template as { readonly volumes?: ReadonlyArray<ProjectedVolume> } | undefined)?.volumes ?? [])
    .filter((volume) => volume.name === objectStoreVolumeName)
    .flatMap((volume) =>
      (volume.projected?.sources ?? []).flatMap((source) =>
        (source.secret?.items ?? []).map((item) => ({ secret: source.secret?.name ?? "", key: item.key }))
      )
    )

type Statuses = ReadonlyArray<{ readonly state?: { readonly running?: unknown; readonly terminated?: unknown } }>

/**
 * Whether the Pod may still be waiting for its volumes: `Pending`, no (init) container ever ran, and not
 * `PodReadyToStartContainers` (the kubelet sets it once the volumes are mounted and the sandbox is up), so a
 * `FailedMount` Event from before the Secret was created does not count once the mount succeeded.
 */
const mayWaitForVolumes = (pod: Pod): boolean => {
  const status = pod.status as (NonNullable<Pod["status"]> & { readonly initContainerStatuses?: Statuses }) | undefined
  const ran = [...((status?.containerStatuses ?? []) as Statuses), ...(status?.initContainerStatuses ?? [])].some(
    (container) => container.state?.running !== undefined || container.state?.terminated !== undefined
  )
  const ready = (status?.conditions ?? []).some((c) => c.type === "PodReadyToStartContainers" && c.status === "True")
  return (status?.phase ?? "Pending") === "Pending" && !ran && !ready
}

const mountPrefix = `MountVolume.SetUp failed for volume "${objectStoreVolumeName}" : `

/**
 * What a Pod of `template` (a Pod spec) in `namespace` waits for, from the kubelet's latest `FailedMount` message
 * for its object-store volume; `undefined` when that message names no Secret or key of the volume. `what` names
 * the Pod in the message.
 */
export const secretWaitOf = (
  template: unknown,
  namespace: string,
  message: string,
  what: string
): SecretWait | undefined => {
  if (!message.startsWith(mountPrefix)) return undefined
  const detail = message.slice(mountPrefix.length)
  const keys = projectedKeys(template)
  const missingSecrets = new Set([...detail.matchAll(/secret "([^"]+)" not found/gu)].map((m) => m[1] ?? ""))
  const missingKeys = new Set(
    [...detail.matchAll(/references non-existent secret key: ([-._A-Za-z0-9]+)/gu)].map((m) => m[1] ?? "")
  )
  const parts = [
    ...[...missingSecrets].map((secret) => {
      const needed = keys.filter((k) => k.secret === secret).map((k) => k.key)
      return `Secret ${namespace}/${secret} does not exist (keys ${needed.join(", ")})`
    }),
    ...keys
      .filter((k) => missingKeys.has(k.key) && !missingSecrets.has(k.secret))
      .map((k) => `Secret ${namespace}/${k.secret} has no key ${k.key}`)
  ]
  if (parts.length === 0) return undefined
  return {
    reason: objectStoreSecretMissing,
    message: `the object store's ${parts.join("; ")}: ${what} waits in ContainerCreating and starts once it exists`
  }
}

const eventTime = (event: Event): string => event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? ""

/**
 * The first of `pods` (Pods of `template`, a Pod spec) that has not started and whose latest `FailedMount` Event
 * names its object-store Secret (one Event list per such Pod, by its uid); `what` names the Pods in the message.
 */
export const secretWaitOfPods = Effect.fn("objectStoreSecretWait")(function* (
  template: unknown,
  pods: ReadonlyArray<Pod>,
  what: string
) {
  const api = yield* KubeApi
  for (const pod of pods.filter(mayWaitForVolumes)) {
    const uid = pod.metadata?.uid
    if (uid === undefined) continue
    const namespace = pod.metadata?.namespace ?? ""
    const events = yield* api.list(Resources.events, {
      namespace,
      fieldSelector: `involvedObject.uid=${uid},reason=FailedMount`
    })
    const latest = [...events.items].sort((a, b) => eventTime(a).localeCompare(eventTime(b))).at(-1)
    const wait = latest?.message === undefined ? undefined : secretWaitOf(template, namespace, latest.message, what)
    if (wait !== undefined) return wait
  }
  return undefined
})

/** `secretWaitOfPods` for the Pods of a Job (the cached Job keeps its template's object-store volume). */
export const secretWaitOfJob = (job: Job, pods: ReadonlyArray<Pod>) =>
  secretWaitOfPods(job.spec?.template.spec, pods, `the Pod of Job ${job.metadata?.name ?? ""}`)
