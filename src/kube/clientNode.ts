/**
 * The JSON-level Kubernetes client on `@kubernetes/client-node` 2.x: its `KubeConfig` authenticates every
 * request (token, client certificate, exec plugins, TLS dispatcher), its undici-based HTTP library sends it,
 * and its `Watch` reads watch streams.
 *
 * We build requests with `RequestContext` instead of the generated typed API classes because those classes
 * silently drop fields their models do not know on create/replace, turn timestamps into `Date`s, and default
 * custom-object patches to JSON Patch. Here every body is plain JSON and every patch states
 * `application/merge-patch+json` explicitly.
 *
 * Requests share one keep-alive connection pool (`DispatcherCache`): client-node's `applySecurityAuthentication`
 * builds a new undici Agent for every request to a cluster with TLS settings (a CA, a client certificate,
 * `insecure-skip-tls-verify`), so every request paid a TCP connection and a TLS handshake, and the controller
 * held thousands of sockets under load.
 *
 * @since 0.1.0
 */
import type { AgentOptions, RequestOptions } from "node:https"
import { isDeepStrictEqual } from "node:util"
import {
  type DispatcherOptions,
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  type KubeConfig,
  RequestContext,
  Watch
} from "@kubernetes/client-node"
import { Cause, Effect, Option, Queue, Schema, Stream } from "effect"
import { fromStatus, type KubeError, MalformedObject, Unavailable } from "./errors.ts"
import type { RawKubeApi, RawWatchEvent, WatchOptions } from "./KubeApi.ts"
import { collectionPath, describeRequest, objectPath, type ResourceType } from "./resources.ts"

const MergePatchContentType = "application/merge-patch+json"

const ListBody = Schema.Struct({
  metadata: Schema.optionalKey(Schema.Struct({ resourceVersion: Schema.optionalKey(Schema.String) })),
  items: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.Unknown)))
})
const decodeList = Schema.decodeUnknownOption(ListBody)
const parseJson = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Unknown))

/** A readable description of a failed fetch: undici hides the socket error in `cause`. */
const transportDetail = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const inner = cause.cause
  const code = inner instanceof Error ? ((inner as Error & { code?: string }).code ?? inner.message) : undefined
  return code === undefined ? cause.message : `${cause.message}: ${code}`
}

const isTimeout = (error: unknown): boolean => error instanceof Error && error.name === "TimeoutError"

/** Maps what client-node's `Watch` hands to its `done` callback to a typed error. */
const watchFailure = (request: string, error: unknown): KubeError => {
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode
  return typeof statusCode === "number"
    ? fromStatus(request, statusCode, error instanceof Error ? error.message : "")
    : new Unavailable({ request, detail: transportDetail(error) })
}

type Query = Record<string, string | number | boolean | undefined>

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>

/** The TLS settings of a request, as `applySecurityAuthentication` hands them to `createDispatcherOptions`. */
const tlsSettings = (options: RequestOptions): AgentOptions => ({
  ca: options.ca,
  cert: options.cert,
  key: options.key,
  pfx: options.pfx,
  passphrase: options.passphrase,
  ...(options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.rejectUnauthorized }),
  ...(options.servername === undefined ? {} : { servername: options.servername })
})

/**
 * One dispatcher (connection pool) for as long as the TLS settings stay the same. They are re-read for every
 * request (an exec plugin or a rotated file may hand out a new client certificate); when they change, the next
 * request gets a new dispatcher, built by client-node itself (proxies, SOCKS), and the old one is left to close
 * its idle connections and be collected, as client-node's per-request ones always were.
 */
const makeDispatcherCache = (kc: KubeConfig) => {
  let current: { readonly options: DispatcherOptions; readonly dispatcher: Dispatcher | undefined } | undefined
  return async (options: DispatcherOptions, url: string): Promise<Dispatcher | undefined> => {
    if (current !== undefined && isDeepStrictEqual(current.options, options)) return current.dispatcher
    const probe = new RequestContext(url, HttpMethod.GET)
    await kc.applySecurityAuthentication(probe)
    current = { options, dispatcher: probe.getDispatcher() }
    return current.dispatcher
  }
}

/** The JSON-level API over a client-node `KubeConfig`. */
export const makeClientNodeRaw = (kc: KubeConfig): RawKubeApi => {
  const http = new IsomorphicFetchHttpLibrary()
  const watcher = new Watch(kc)
  const dispatcherFor = makeDispatcherCache(kc)

  /** `applySecurityAuthentication` with a shared dispatcher: the same headers, the same TLS settings. */
  const authenticate = async (context: RequestContext) => {
    const options: RequestOptions = {}
    await kc.applyToHTTPSOptions(options)
    if (options.auth !== undefined && options.auth !== null) {
      context.setHeaderParam("Authorization", `Basic ${Buffer.from(options.auth).toString("base64")}`)
    }
    for (const [key, value] of Object.entries(options.headers ?? {})) context.setHeaderParam(key, `${value}`)
    const dispatcher = await dispatcherFor(
      kc.createDispatcherOptions(kc.getCurrentCluster(), tlsSettings(options)),
      context.getUrl()
    )
    if (dispatcher !== undefined) context.setDispatcher(dispatcher)
  }

  const send = (
    request: string,
    method: HttpMethod,
    path: string,
    query: Query,
    body?: { readonly json: unknown; readonly contentType: string }
  ): Effect.Effect<unknown, KubeError> =>
    Effect.tryPromise({
      try: async (signal) => {
        const url = new URL(`${kc.getCurrentCluster()?.server ?? ""}${path}`)
        for (const [key, value] of Object.entries(query)) {
          if (value !== undefined) url.searchParams.set(key, String(value))
        }
        const context = new RequestContext(url.toString(), method)
        await authenticate(context)
        context.setHeaderParam("Accept", "application/json")
        if (body !== undefined) {
          context.setHeaderParam("Content-Type", body.contentType)
          context.setBody(JSON.stringify(body.json))
        }
        // interruption of the calling fiber aborts the HTTP request
        context.setSignal(signal)
        const response = await http.send(context).toPromise()
        return { code: response.httpStatusCode, text: await response.body.text() }
      },
      catch: (cause) => new Unavailable({ request, detail: transportDetail(cause) })
    }).pipe(
      Effect.flatMap(({ code, text }) => {
        if (code < 200 || code > 299) return Effect.fail(fromStatus(request, code, text))
        return Option.match(parseJson(text), {
          onNone: () =>
            Effect.fail(new MalformedObject({ request, detail: `response is not JSON: ${text.slice(0, 200)}` })),
          onSome: Effect.succeed
        })
      })
    )

  const watch = (resource: ResourceType, options: WatchOptions): Stream.Stream<RawWatchEvent, KubeError> => {
    const request = describeRequest(
      "WATCH",
      resource,
      options.namespace === undefined ? undefined : { namespace: options.namespace }
    )
    const query: Query = {
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      resourceVersion: options.resourceVersion,
      timeoutSeconds: options.timeoutSeconds,
      allowWatchBookmarks: options.allowWatchBookmarks
    }
    return Stream.callback<RawWatchEvent, KubeError>((queue) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          let stopped = false
          let controller: AbortController | undefined
          const fail = (error: KubeError) => Queue.failCauseUnsafe(queue, Cause.fail(error))
          watcher
            .watch(
              collectionPath(resource, options.namespace),
              query,
              (type, object) => {
                if (type === "ERROR") {
                  fail(fromStatus(request, 500, object))
                } else if (type === "ADDED" || type === "MODIFIED" || type === "DELETED" || type === "BOOKMARK") {
                  Queue.offerUnsafe(queue, { type, object })
                }
              },
              (error) => {
                // client-node aborts a watch after 30 s without data (TimeoutError); like a clean server close
                // this only ends the stream, and the caller resumes from its last resourceVersion
                if (error === null || error === undefined || isTimeout(error)) Queue.endUnsafe(queue)
                else fail(watchFailure(request, error))
              }
            )
            .then(
              (started) => {
                controller = started
                if (stopped) started.abort()
              },
              (error: unknown) => fail(watchFailure(request, error))
            )
          return () => {
            stopped = true
            controller?.abort()
          }
        }),
        (stop) => Effect.sync(stop)
      )
    )
  }

  return {
    get: (resource, ref) =>
      send(describeRequest("GET", resource, ref), HttpMethod.GET, objectPath(resource, ref.namespace, ref.name), {}),
    list: (resource, options) => {
      const request = describeRequest(
        "LIST",
        resource,
        options.namespace === undefined ? undefined : { namespace: options.namespace }
      )
      return send(request, HttpMethod.GET, collectionPath(resource, options.namespace), {
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector
      }).pipe(
        Effect.flatMap((body) =>
          Option.match(decodeList(body), {
            onNone: () => Effect.fail(new MalformedObject({ request, detail: "response is not a list" })),
            onSome: (list) =>
              Effect.succeed({ items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? "" })
          })
        )
      )
    },
    create: (resource, namespace, body) =>
      send(
        describeRequest("POST", resource, {
          namespace,
          name: (body as { metadata?: { name?: string } }).metadata?.name ?? ""
        }),
        HttpMethod.POST,
        collectionPath(resource, namespace),
        {},
        { json: body, contentType: "application/json" }
      ),
    replace: (resource, ref, body) =>
      send(
        describeRequest("PUT", resource, ref),
        HttpMethod.PUT,
        objectPath(resource, ref.namespace, ref.name),
        {},
        {
          json: body,
          contentType: "application/json"
        }
      ),
    patch: (resource, ref, patch, subresource) => {
      const path = objectPath(resource, ref.namespace, ref.name)
      return send(
        describeRequest(subresource === undefined ? "PATCH" : "PATCH status", resource, ref),
        HttpMethod.PATCH,
        subresource === undefined ? path : `${path}/${subresource}`,
        {},
        { json: patch, contentType: MergePatchContentType }
      )
    },
    delete: (resource, ref, options) =>
      send(
        describeRequest("DELETE", resource, ref),
        HttpMethod.DELETE,
        objectPath(resource, ref.namespace, ref.name),
        { propagationPolicy: options.propagationPolicy },
        options.preconditions === undefined
          ? undefined
          : {
              json: { apiVersion: "v1", kind: "DeleteOptions", preconditions: options.preconditions },
              contentType: "application/json"
            }
      ).pipe(Effect.asVoid),
    watch
  }
}
