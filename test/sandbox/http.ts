/**
 * Plain-`fetch` helpers for exercising the fake API server the way any HTTP client would.
 */
import { Effect } from "effect"
import { FakeApiServer } from "../../src/sandbox/FakeApiServer.ts"

/** An HTTP reply: status code, parsed JSON body, headers. */
export interface Reply {
  readonly status: number
  // biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary JSON replies
  readonly body: any
  readonly headers: Headers
}

/** Sends one request to the fake API server and parses the JSON reply. */
export const call = (
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {}
): Effect.Effect<Reply, never, FakeApiServer> =>
  Effect.gen(function* () {
    const server = yield* FakeApiServer
    return yield* Effect.promise(async () => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          ...headers
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
      const text = await response.text()
      return { status: response.status, body: text === "" ? undefined : JSON.parse(text), headers: response.headers }
    })
  })

export const get = (path: string, headers?: Record<string, string>) => call("GET", path, undefined, headers)
export const post = (path: string, body: unknown) => call("POST", path, body)
export const put = (path: string, body: unknown) => call("PUT", path, body)
export const del = (path: string, body?: unknown) => call("DELETE", path, body)
export const mergePatch = (path: string, body: unknown) =>
  call("PATCH", path, body, { "Content-Type": "application/merge-patch+json" })
export const jsonPatch = (path: string, body: unknown) =>
  call("PATCH", path, body, { "Content-Type": "application/json-patch+json" })

/** An open watch: read events as they arrive, or wait for the stream to end. */
export interface WatchReader {
  readonly status: number
  /** The next `count` events (fails the test by timing out if they never come). */
  // biome-ignore lint/suspicious/noExplicitAny: watch events are arbitrary JSON
  readonly next: (count: number) => Effect.Effect<Array<any>>
  /** Resolves when the server ends the stream; returns the events received meanwhile. */
  // biome-ignore lint/suspicious/noExplicitAny: watch events are arbitrary JSON
  readonly ended: Effect.Effect<Array<any>>
  readonly close: Effect.Effect<void>
}

/** Opens `?watch=1` on a collection path (query string without `watch`). */
export const watch = (path: string): Effect.Effect<WatchReader, never, FakeApiServer> =>
  Effect.gen(function* () {
    const server = yield* FakeApiServer
    const controller = new AbortController()
    const separator = path.includes("?") ? "&" : "?"
    const response = yield* Effect.promise(() =>
      fetch(`${server.url}${path}${separator}watch=1`, { signal: controller.signal })
    )
    const reader = response.body?.getReader()
    const decoder = new TextDecoder()
    let buffer = ""
    let done = false
    // biome-ignore lint/suspicious/noExplicitAny: watch events are arbitrary JSON
    const queued: Array<any> = []
    const pump = async (): Promise<void> => {
      if (reader === undefined) {
        done = true
        return
      }
      const chunk = await reader.read().catch(() => ({ done: true, value: undefined }))
      if (chunk.done) {
        done = true
        return
      }
      buffer += decoder.decode(chunk.value, { stream: true })
      let newline = buffer.indexOf("\n")
      while (newline >= 0) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        if (line.trim() !== "") queued.push(JSON.parse(line))
        newline = buffer.indexOf("\n")
      }
    }
    return {
      status: response.status,
      next: (count) =>
        Effect.promise(async () => {
          while (queued.length < count && !done) await pump()
          return queued.splice(0, count)
        }).pipe(Effect.timeout("5 seconds"), Effect.orDie),
      ended: Effect.promise(async () => {
        while (!done) await pump()
        return queued.splice(0)
      }).pipe(Effect.timeout("10 seconds"), Effect.orDie),
      close: Effect.sync(() => controller.abort())
    }
  })

/** Core, batch and our group's collection paths in namespace `ns`. */
export const paths = {
  backups: (ns = "default") => `/apis/mysql.cloudnative-mysql.io/v1alpha1/namespaces/${ns}/backups`,
  clusters: (ns = "default") => `/apis/mysql.cloudnative-mysql.io/v1alpha1/namespaces/${ns}/clusters`,
  jobs: (ns = "default") => `/apis/batch/v1/namespaces/${ns}/jobs`,
  pods: (ns = "default") => `/api/v1/namespaces/${ns}/pods`,
  configmaps: (ns = "default") => `/api/v1/namespaces/${ns}/configmaps`,
  events: (ns = "default") => `/api/v1/namespaces/${ns}/events`
}

/** A valid Backup. */
export const backup = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "Backup",
  metadata: { name, labels },
  spec: { cluster: { name: "cluster-sample" } }
})

/** A valid Cluster. */
export const cluster = (name: string, instances = 1) => ({
  apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
  kind: "Cluster",
  metadata: { name },
  spec: { instances, imageName: "ghcr.io/cloudnative-mysql/instance:8.4", storage: { size: "1Gi" } }
})

/** A valid Job. */
export const job = (name: string) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name },
  spec: {
    template: {
      spec: { restartPolicy: "Never", containers: [{ name: "backup", image: "busybox:1.36", command: ["true"] }] }
    }
  }
})
