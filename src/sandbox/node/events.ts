/**
 * Events the node agent writes about Pods, as the kubelet's and the scheduler's recorders do: core/v1 Events
 * with `source.component` `kubelet` (or `default-scheduler`), and a repeated event (same reason, message and
 * object) counted on the first one instead of written again.
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"
import { metaV1Time } from "../../api/time.ts"
import type { FakeClusterService } from "../FakeCluster.ts"
import type { StoredObject } from "../StoredObject.ts"

export interface PodEvents {
  readonly emit: (
    type: "Normal" | "Warning",
    reason: string,
    message: string,
    options?: { readonly fieldPath?: string; readonly component?: string }
  ) => Effect.Effect<void>
}

const events = (namespace: string) => ({ group: "", version: "v1", plural: "events", namespace })

/** An event writer for one Pod. */
export const podEvents = (cluster: FakeClusterService, pod: StoredObject, nodeName: string): PodEvents => {
  const seen = new Map<string, { readonly name: string; count: number }>()
  const namespace = pod.metadata.namespace ?? "default"
  return {
    emit: (type, reason, message, options = {}) =>
      Effect.gen(function* () {
        const now = metaV1Time(yield* Clock.currentTimeMillis)
        const key = `${type}\u0000${reason}\u0000${message}\u0000${options.fieldPath ?? ""}`
        const known = seen.get(key)
        if (known !== undefined) {
          known.count++
          yield* Effect.ignore(
            cluster.mergePatch(events(namespace), known.name, { count: known.count, lastTimestamp: now })
          )
          return
        }
        const created = yield* Effect.option(
          cluster.create(events(namespace), {
            metadata: { generateName: `${pod.metadata.name ?? "pod"}.`, namespace },
            involvedObject: {
              kind: "Pod",
              apiVersion: "v1",
              namespace,
              name: pod.metadata.name,
              uid: pod.metadata.uid,
              ...(options.fieldPath === undefined ? {} : { fieldPath: options.fieldPath })
            },
            type,
            reason,
            message,
            source: { component: options.component ?? "kubelet", host: nodeName },
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
            reportingComponent: options.component ?? "kubelet",
            reportingInstance: nodeName
          })
        )
        if (created._tag === "Some") seen.set(key, { name: created.value.metadata.name ?? "", count: 1 })
      })
  }
}
