/**
 * `PodLogs`: where the fake API server gets what it serves on `GET /api/v1/namespaces/{ns}/pods/{name}/log`.
 * On a real cluster the API server proxies that request to the kubelet of the Pod's node; here the node agent
 * provides this service, and without one the server answers as for a Pod no node runs.
 *
 * @since 0.1.0
 */
import { Context, type Effect, type Stream } from "effect"
import type { ApiStatusError } from "./ApiStatus.ts"
import type { StoredObject } from "./StoredObject.ts"

/** The query of a log request (`PodLogOptions`). */
export interface PodLogOptions {
  readonly container: string | undefined
  readonly previous: boolean
  readonly follow: boolean
  readonly tailLines: number | undefined
  readonly limitBytes: number | undefined
}

/** A node's log endpoint. */
export interface PodLogsService {
  /** The log bytes of one container of `pod` (the stored object), or the kubelet's 400 for a bad request. */
  readonly read: (pod: StoredObject, options: PodLogOptions) => Effect.Effect<Stream.Stream<Uint8Array>, ApiStatusError>
}

export class PodLogs extends Context.Service<PodLogs, PodLogsService>()("cnmysql/sandbox/PodLogs") {}
