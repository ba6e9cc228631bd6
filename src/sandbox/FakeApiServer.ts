/**
 * `FakeApiServer`: the HTTP face of the fake control plane. A `node:http` server on 127.0.0.1 (ephemeral
 * port) speaking the Kubernetes REST and watch wire format over the `FakeCluster` store, so the live
 * client-node `KubeApi` layer, the reflector and the real `kubectl` run against it unchanged.
 *
 * Served: discovery (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`) and a minimal
 * OpenAPI v3 (`/openapi/v3/...`, what `kubectl apply` needs to validate server-side and to pick merge
 * patch for custom resources); GET (object, list, `?watch=1` as chunked JSON lines honouring
 * `resourceVersion`, `labelSelector`, `fieldSelector`, `timeoutSeconds`, `allowWatchBookmarks`); POST;
 * PUT; PATCH (`merge-patch+json`, `json-patch+json`, `strategic-merge-patch+json` for built-ins only;
 * server-side apply is refused with a 415 that says so); DELETE (`propagationPolicy`, `preconditions`,
 * `dryRun` from the DeleteOptions body or the query); `/status` subresources; `/scale` of Deployments and
 * ReplicaSets (`kubectl scale`); `dryRun=All` and
 * `fieldValidation=Strict` on writes; and `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` tables
 * (also for watches) built from a CRD's `additionalPrinterColumns`; `GET …/pods/{name}/log` (`container`,
 * `previous`, `tailLines`, `limitBytes`, `follow`) answered by the node agent's `PodLogs` when one is in
 * context (the real server proxies it to the Pod's kubelet); DELETE honours `gracePeriodSeconds` for Pods.
 *
 * Access control (`layerTestWith({ rbac: true })`, apiAccess.ts): bearer-token authentication (the sandbox admin,
 * ServiceAccount tokens from the TokenRequest subresource) and RBAC authorization with the real server's 403
 * bodies; off by default, when every request is the admin. `tls: true` serves HTTPS with the server's own CA
 * (apiServerTls.ts), which the kubeconfig and `writeServiceAccountFiles` hand to clients.
 *
 * Not served: pagination (`limit` is ignored and the whole list returned, which clients accept),
 * `deletecollection`, protobuf (but the TokenRequest of `kubectl create token`), Namespace lifecycle (any
 * namespace name is usable without creating it).
 *
 * @since 0.1.0
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { join } from "node:path"
import { Clock, Context, Effect, Fiber, Layer, Option, Schema, Stream } from "effect"
import { listenScoped } from "../platform/listen.ts"
import {
  type ApiStatusError,
  badRequest,
  methodNotAllowed,
  resourceNotFound,
  type StatusBody,
  unsupportedMediaType
} from "./ApiStatus.ts"
import { type ApiAccess, type IssueTokenOptions, makeApiAccess } from "./apiAccess.ts"
import { servingCertificate } from "./apiServerTls.ts"
import { FakeCluster, type FakeClusterService, type ResourceRef, type WriteOptions } from "./FakeCluster.ts"
import { openApiDocument, openApiIndex } from "./openapi.ts"
import { type PodLogOptions, PodLogs, type PodLogsService } from "./PodLogs.ts"
import { apiVersionOf, type ServedKind } from "./resources.ts"
import type { StoredObject } from "./StoredObject.ts"
import { handleScale, scaleDiscovery, servesScale } from "./scale.ts"
import { tableOf } from "./table.ts"

/** How the server is reached and who may do what. */
export interface FakeApiServerOptions {
  /** Serve HTTPS with the server's own CA (default: plain HTTP). */
  readonly tls?: boolean
  /** Authenticate every request and authorize it with RBAC (default: every request is the sandbox admin). */
  readonly rbac?: boolean
  /**
   * An HTTPS listener next to the main one, with a given certificate (key and certificate PEM, port; 0 picks one):
   * what in-cluster clients in the sandbox's Pods dial, trusting the CA the node agent mounts as `ca.crt`.
   */
  readonly secureListener?: { readonly certificate: string; readonly privateKey: string; readonly port: number }
}

/**
 * A running fake API server. Its access control's token issuing and request records (`ApiAccess`) are exposed
 * as they are.
 */
export interface FakeApiServerService
  extends Pick<ApiAccess, "adminToken" | "issueToken" | "denials" | "clearDenials" | "allowed" | "clearAllowed"> {
  /** `http://127.0.0.1:<port>`, or `https://…` with `tls` */
  readonly url: string
  /** `https://127.0.0.1:<port>` of the `secureListener`, when there is one. */
  readonly tlsUrl: string | undefined
  readonly host: string
  readonly port: number
  /** The CA certificate (PEM) that signed the serving certificate, with `tls`. */
  readonly caCertificate: string | undefined
  /**
   * Writes a kubeconfig for the sandbox admin pointing at the server (with `tls` it trusts the server's CA, else
   * `insecure-skip-tls-verify`); returns its path.
   */
  readonly writeKubeconfig: (path: string, namespace?: string) => Effect.Effect<string>
  /**
   * Writes what the kubelet mounts at `/var/run/secrets/kubernetes.io/serviceaccount` (`token`, `ca.crt` with
   * `tls`, `namespace`) into `dir`; returns `dir`.
   */
  readonly writeServiceAccountFiles: (
    dir: string,
    namespace: string,
    serviceAccount: string,
    options?: IssueTokenOptions
  ) => Effect.Effect<string, ApiStatusError>
}

/** The fake API server: needs a `FakeCluster`; closes with its scope. */
export class FakeApiServer extends Context.Service<FakeApiServer, FakeApiServerService>()(
  "cloudnative-mysql/sandbox/FakeApiServer"
) {
  /** The HTTP face over an existing `FakeCluster`. */
  static readonly layerOnly: Layer.Layer<FakeApiServer, never, FakeCluster> = Layer.effect(
    FakeApiServer,
    Effect.suspend(() => startFakeApiServer)
  )
  /** The HTTP face with options (TLS, access control, a second listener on HTTPS). */
  static readonly layerWith = (options: FakeApiServerOptions): Layer.Layer<FakeApiServer, never, FakeCluster> =>
    Layer.effect(FakeApiServer, startFakeApiServerWith(options))
  /** The HTTP face and a fresh `FakeCluster` (with the repo's CRDs), both exposed. */
  static readonly layerTest: Layer.Layer<FakeApiServer | FakeCluster> = FakeApiServer.layerOnly.pipe(
    Layer.provideMerge(FakeCluster.layer)
  )
  /** The face with TLS and/or access control over an existing `FakeCluster`. */
  static readonly layerOnlyWith = (options: FakeApiServerOptions): Layer.Layer<FakeApiServer, never, FakeCluster> =>
    Layer.effect(FakeApiServer, startFakeApiServerWith(options))
  /** `layerTest` with TLS and/or access control. */
  static readonly layerTestWith = (options: FakeApiServerOptions): Layer.Layer<FakeApiServer | FakeCluster> =>
    FakeApiServer.layerOnlyWith(options).pipe(Layer.provideMerge(FakeCluster.layer))
}

/**
 * A kubeconfig for the server: trusting `ca` (PEM) when given, else `insecure-skip-tls-verify` (client-node needs
 * it to allow `http://`), with a bearer `token`.
 */
export const kubeconfigYaml = (url: string, namespace = "default", ca?: string, token = "fake"): string =>
  [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: fake",
    "  cluster:",
    `    server: ${url}`,
    ca === undefined
      ? "    insecure-skip-tls-verify: true"
      : `    certificate-authority-data: ${Buffer.from(ca).toString("base64")}`,
    "users:",
    "- name: fake",
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: fake",
    "  context:",
    "    cluster: fake",
    "    user: fake",
    `    namespace: ${namespace}`,
    "current-context: fake",
    ""
  ].join("\n")

/** Starts the server on 127.0.0.1:0 in the current scope (closed, with its watches, when the scope closes). */
export const startFakeApiServerWith = Effect.fn("FakeApiServer.start")(function* (options: FakeApiServerOptions) {
  const cluster = yield* FakeCluster
  const logs = Option.getOrUndefined(yield* Effect.serviceOption(PodLogs))
  const context = yield* Effect.context<never>()
  const runFork = Effect.runForkWith(context)
  const host = "127.0.0.1"
  // the bootstrap policy is valid by construction: failing to create it is a bug in the fake
  const access = yield* Effect.orDie(makeApiAccess(cluster, { rbac: options.rbac ?? false }))
  const tls = options.tls === true ? yield* Effect.orDie(servingCertificate(host)) : undefined
  const listener = (request: IncomingMessage, response: ServerResponse) => {
    const fiber = runFork(handle(cluster, access, logs, request, response))
    response.on("close", () => {
      if (!response.writableFinished) Effect.runFork(Fiber.interrupt(fiber))
    })
  }
  const server =
    tls === undefined
      ? createServer(listener)
      : createHttpsServer({ key: tls.privateKey, cert: tls.certificate }, listener)
  // client-node keeps connections alive; without this, close() would wait for idle sockets.
  server.keepAliveTimeout = 5_000
  // a loopback bind on a free port does not fail short of a broken machine
  const port = yield* Effect.orDie(listenScoped(server, 0, host))
  const url = `${tls === undefined ? "http" : "https"}://${host}:${port}`
  let tlsUrl: string | undefined
  if (options.secureListener !== undefined) {
    const { certificate, privateKey } = options.secureListener
    const secure = createHttpsServer({ cert: certificate, key: privateKey }, listener)
    secure.keepAliveTimeout = 5_000
    tlsUrl = `https://${host}:${yield* Effect.orDie(listenScoped(secure, options.secureListener.port, host))}`
  }
  const token = access.enabled ? access.adminToken : "fake"
  return FakeApiServer.of({
    url,
    tlsUrl,
    host,
    port,
    caCertificate: tls?.ca,
    adminToken: access.adminToken,
    writeKubeconfig: (path, namespace) =>
      Effect.sync(() => {
        writeFileSync(path, kubeconfigYaml(url, namespace, tls?.ca, token))
        return path
      }),
    issueToken: access.issueToken,
    writeServiceAccountFiles: (dir, namespace, serviceAccount, issue) =>
      Effect.flatMap(access.issueToken(namespace, serviceAccount, issue), (serviceAccountToken) =>
        Effect.sync(() => {
          mkdirSync(dir, { recursive: true })
          writeFileSync(join(dir, "token"), serviceAccountToken)
          writeFileSync(join(dir, "namespace"), namespace)
          if (tls !== undefined) writeFileSync(join(dir, "ca.crt"), tls.ca)
          return dir
        })
      ),
    denials: access.denials,
    clearDenials: access.clearDenials,
    allowed: access.allowed,
    clearAllowed: access.clearAllowed
  })
})

/** `startFakeApiServerWith` with the defaults: plain HTTP, no access control. */
export const startFakeApiServer = startFakeApiServerWith({})

// ---- request handling ----

interface Route {
  readonly type: ServedKind
  readonly ref: ResourceRef
  readonly name: string | undefined
  readonly subresource: "" | "status"
  /** `…/scale` of a Deployment or ReplicaSet. */
  readonly scale: boolean
}

const send = (response: ServerResponse, code: number, body: unknown): Effect.Effect<void> =>
  Effect.sync(() => {
    if (response.headersSent) {
      response.end()
      return
    }
    const text = JSON.stringify(body)
    response.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) })
    response.end(text)
  })

const sendStatus = (response: ServerResponse, status: StatusBody) => send(response, status.code, status)

const JsonBody = Schema.fromJsonString(Schema.Unknown)
const decodeJson = Schema.decodeUnknownEffect(JsonBody)

const readBody = (request: IncomingMessage): Effect.Effect<unknown, ApiStatusError> =>
  Effect.callback<string>((resume) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    request.on("error", () => resume(Effect.succeed("")))
  }).pipe(
    Effect.flatMap((text) =>
      text === ""
        ? Effect.succeed(undefined)
        : decodeJson(text).pipe(
            Effect.mapError(() => badRequest("the body of the request was in an unknown format: invalid JSON"))
          )
    )
  )

const discovery = (cluster: FakeClusterService, path: string, url: URL): Effect.Effect<unknown, ApiStatusError> =>
  Effect.gen(function* () {
    const types = yield* cluster.resources
    if (path === "/version") {
      return {
        major: "1",
        minor: "32",
        gitVersion: "v1.32.0-fake",
        gitCommit: "fake",
        gitTreeState: "clean",
        buildDate: "2026-01-01T00:00:00Z",
        goVersion: "go1.23",
        compiler: "gc",
        platform: "linux/amd64"
      }
    }
    if (path === "/api") {
      return {
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: url.host }]
      }
    }
    const groups = new Map<string, Array<string>>()
    for (const type of types) {
      if (type.group === "") continue
      const versions = groups.get(type.group) ?? []
      if (!versions.includes(type.version)) versions.push(type.version)
      groups.set(type.group, versions)
    }
    const groupOf = (group: string, versions: ReadonlyArray<string>) => ({
      name: group,
      versions: versions.map((version) => ({ groupVersion: `${group}/${version}`, version })),
      preferredVersion: { groupVersion: `${group}/${versions[0] ?? ""}`, version: versions[0] ?? "" }
    })
    if (path === "/apis") {
      return {
        kind: "APIGroupList",
        apiVersion: "v1",
        groups: [...groups].map(([group, versions]) => groupOf(group, versions))
      }
    }
    const groupOnly = /^\/apis\/([^/]+)$/.exec(path)
    if (groupOnly !== null) {
      const versions = groups.get(groupOnly[1] ?? "")
      if (versions === undefined) return yield* resourceNotFound()
      return { kind: "APIGroup", apiVersion: "v1", ...groupOf(groupOnly[1] ?? "", versions) }
    }
    const groupVersion = path === "/api/v1" ? "v1" : path.slice("/apis/".length)
    const served = types.filter((type) => apiVersionOf(type) === groupVersion)
    if (served.length === 0) return yield* resourceNotFound()
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion,
      resources: served.flatMap((type) => [
        {
          name: type.plural,
          singularName: type.singular,
          namespaced: type.namespaced,
          kind: type.kind,
          verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
          ...(type.shortNames.length > 0 ? { shortNames: type.shortNames } : {}),
          ...(type.categories.length > 0 ? { categories: type.categories } : {})
        },
        ...(type.statusSubresource
          ? [
              {
                name: `${type.plural}/status`,
                singularName: "",
                namespaced: type.namespaced,
                kind: type.kind,
                verbs: ["get", "patch", "update"]
              }
            ]
          : []),
        ...(servesScale(type) ? [scaleDiscovery(type)] : [])
      ])
    }
  })

const isDiscovery = (path: string): boolean =>
  path === "/version" ||
  path === "/api" ||
  path === "/apis" ||
  path === "/api/v1" ||
  /^\/apis\/[^/]+(\/[^/]+)?$/.test(path)

const routeOf = (cluster: FakeClusterService, path: string): Effect.Effect<Route, ApiStatusError> =>
  Effect.gen(function* () {
    const segments = path
      .split("/")
      .filter((segment) => segment !== "")
      .map(decodeURIComponent)
    let group: string
    let version: string
    let rest: Array<string>
    if (segments[0] === "api" && segments.length >= 2) {
      group = ""
      version = segments[1] ?? ""
      rest = segments.slice(2)
    } else if (segments[0] === "apis" && segments.length >= 3) {
      group = segments[1] ?? ""
      version = segments[2] ?? ""
      rest = segments.slice(3)
    } else {
      return yield* resourceNotFound()
    }
    let namespace: string | undefined
    if (rest[0] === "namespaces" && rest.length >= 3) {
      namespace = rest[1]
      rest = rest.slice(2)
    }
    const [plural, name, subresource, ...extra] = rest
    if (
      plural === undefined ||
      extra.length > 0 ||
      (subresource !== undefined && subresource !== "status" && subresource !== "scale")
    ) {
      return yield* resourceNotFound()
    }
    const type = yield* cluster.resource({ group, version, plural })
    if (type.namespaced === false && namespace !== undefined) return yield* resourceNotFound()
    if (subresource === "scale" && !servesScale(type)) return yield* resourceNotFound()
    return {
      type,
      ref: { group, version, plural, namespace },
      name,
      subresource: subresource === "status" ? "status" : "",
      scale: subresource === "scale"
    }
  })

const query = (url: URL, key: string): string | undefined => url.searchParams.get(key) ?? undefined

const wantsTable = (request: IncomingMessage): boolean => /as=Table/.test(request.headers.accept ?? "")

const PropagationPolicy = Schema.Literals(["Orphan", "Background", "Foreground"])
const DeleteOptionsBody = Schema.Struct({
  propagationPolicy: Schema.optionalKey(PropagationPolicy),
  orphanDependents: Schema.optionalKey(Schema.Boolean),
  gracePeriodSeconds: Schema.optionalKey(Schema.NullOr(Schema.Int)),
  dryRun: Schema.optionalKey(Schema.Array(Schema.String)),
  preconditions: Schema.optionalKey(
    Schema.Struct({ uid: Schema.optionalKey(Schema.String), resourceVersion: Schema.optionalKey(Schema.String) })
  )
})
const decodeDeleteOptions = Schema.decodeUnknownEffect(DeleteOptionsBody)
const decodePolicy = Schema.decodeUnknownEffect(Schema.UndefinedOr(PropagationPolicy))

const handleDelete = (cluster: FakeClusterService, route: Route, name: string, request: IncomingMessage, url: URL) =>
  Effect.gen(function* () {
    const body = yield* readBody(request)
    const options = yield* decodeDeleteOptions(body ?? {}).pipe(
      Effect.mapError((error) => badRequest(`invalid StoreDeleteOptions: ${error.message}`))
    )
    const fromQuery = yield* decodePolicy(query(url, "propagationPolicy")).pipe(
      Effect.mapError(() => badRequest(`invalid propagationPolicy: ${query(url, "propagationPolicy") ?? ""}`))
    )
    const orphan =
      options.orphanDependents ??
      (query(url, "orphanDependents") === undefined ? undefined : query(url, "orphanDependents") === "true")
    const propagationPolicy =
      options.propagationPolicy ?? fromQuery ?? (orphan === undefined ? undefined : orphan ? "Orphan" : "Background")
    const graceQuery = query(url, "gracePeriodSeconds")
    const gracePeriodSeconds = options.gracePeriodSeconds ?? (graceQuery === undefined ? undefined : Number(graceQuery))
    if (gracePeriodSeconds !== undefined && gracePeriodSeconds !== null && !Number.isInteger(gracePeriodSeconds)) {
      return yield* badRequest(`invalid gracePeriodSeconds: ${graceQuery ?? ""}`)
    }
    const result = yield* cluster.delete(route.ref, name, {
      propagationPolicy,
      ...(gracePeriodSeconds === undefined || gracePeriodSeconds === null ? {} : { gracePeriodSeconds }),
      dryRun: query(url, "dryRun") === "All" || (options.dryRun?.includes("All") ?? false),
      ...(options.preconditions === undefined ? {} : { preconditions: options.preconditions })
    })
    const warn = route.type.group === "batch" && route.type.plural === "jobs" && propagationPolicy === undefined
    if (!result.deleted) return [200, result.object, warn] as const
    return [
      200,
      {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: { name, group: route.type.group, kind: route.type.plural, uid: result.object.metadata.uid }
      },
      warn
    ] as const
  })

const writeOptions = (url: URL): WriteOptions => {
  const value = query(url, "fieldValidation")
  return {
    ...(value === "Strict" || value === "Warn" || value === "Ignore" ? { fieldValidation: value } : {}),
    ...(query(url, "dryRun") === "All" ? { dryRun: true } : {})
  }
}

const handlePatch = (cluster: FakeClusterService, route: Route, name: string, request: IncomingMessage, url: URL) =>
  Effect.gen(function* () {
    const contentType = (request.headers["content-type"] ?? "").split(";")[0]?.trim() ?? ""
    if (contentType === "application/apply-patch+yaml") {
      return yield* unsupportedMediaType(
        contentType,
        "server-side apply is not supported by the fake API server; use client-side apply (kubectl apply --server-side=false) or a merge patch"
      )
    }
    const body = yield* readBody(request)
    const options = { ...writeOptions(url), subresource: route.subresource }
    switch (contentType) {
      case "application/merge-patch+json":
        return route.subresource === "status"
          ? yield* cluster.statusMergePatch(route.ref, name, body, options)
          : yield* cluster.mergePatch(route.ref, name, body, options)
      case "application/json-patch+json":
        return yield* cluster.jsonPatch(route.ref, name, body, options)
      case "application/strategic-merge-patch+json":
        return yield* cluster.strategicMergePatch(route.ref, name, body, options)
      default:
        return yield* unsupportedMediaType(`"${contentType}"`)
    }
  })

const serveWatch = (
  cluster: FakeClusterService,
  route: Route,
  url: URL,
  asTable: boolean,
  response: ServerResponse
): Effect.Effect<void> => {
  const timeoutSeconds = Number(query(url, "timeoutSeconds") ?? "0")
  const bookmarks = query(url, "allowWatchBookmarks") === "true"
  const write = (line: unknown) =>
    Effect.sync(() => {
      if (!response.headersSent) {
        response.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" })
      }
      response.write(`${JSON.stringify(line)}\n`)
    })
  let lastResourceVersion = query(url, "resourceVersion") ?? "0"
  const events = cluster
    .watch(route.ref, {
      resourceVersion: query(url, "resourceVersion"),
      labelSelector: query(url, "labelSelector"),
      fieldSelector: query(url, "fieldSelector")
    })
    .pipe(
      Stream.runForEach((event) => {
        lastResourceVersion = event.object.metadata.resourceVersion ?? lastResourceVersion
        if (!asTable) return write(event)
        // `kubectl get -w` asks for Tables: each event then carries a one-row Table.
        return Effect.flatMap(Clock.currentTimeMillis, (now) =>
          write({ type: event.type, object: tableOf(route.type, [event.object], lastResourceVersion, now) })
        )
      }),
      // A watch that cannot start (too old RV, bad selector) is answered 200 with one ERROR event, like the cacher.
      Effect.catch((error) => write({ type: "ERROR", object: error.status }))
    )
  const opened = Effect.sync(() => {
    if (!response.headersSent)
      response.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" })
    response.flushHeaders()
  })
  const bounded =
    timeoutSeconds > 0
      ? events.pipe(
          Effect.timeoutOption(`${timeoutSeconds} seconds`),
          Effect.andThen(
            bookmarks
              ? write({
                  type: "BOOKMARK",
                  object: {
                    kind: route.type.kind,
                    apiVersion: apiVersionOf(route.type),
                    metadata: { resourceVersion: lastResourceVersion }
                  }
                })
              : Effect.void
          )
        )
      : events
  return Effect.andThen(opened, bounded).pipe(Effect.ensuring(Effect.sync(() => response.end())))
}

const podLogPath = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/

const optionalCount = (url: URL, key: string): Effect.Effect<number | undefined, ApiStatusError> => {
  const value = query(url, key)
  if (value === undefined) return Effect.succeed(undefined)
  const count = Number(value)
  return Number.isInteger(count) && count >= 0
    ? Effect.succeed(count)
    : Effect.fail(badRequest(`invalid ${key}: ${value}: must be a non-negative integer`))
}

/** `pods/{name}/log`: the kubelet's answer, through the node agent when there is one. */
const servePodLog = (
  cluster: FakeClusterService,
  logs: PodLogsService | undefined,
  namespace: string,
  name: string,
  url: URL,
  response: ServerResponse
) =>
  Effect.gen(function* () {
    const pod = yield* cluster.get({ group: "", version: "v1", plural: "pods", namespace }, name)
    const spec = pod.spec as { readonly nodeName?: unknown } | undefined
    if (logs === undefined || typeof spec?.nodeName !== "string" || spec.nodeName === "") {
      return yield* badRequest(`pod ${name} does not have a host assigned`)
    }
    const options: PodLogOptions = {
      container: query(url, "container"),
      previous: query(url, "previous") === "true",
      follow: query(url, "follow") === "true",
      tailLines: yield* optionalCount(url, "tailLines"),
      limitBytes: yield* optionalCount(url, "limitBytes")
    }
    const bytes = yield* logs.read(pod, options)
    response.writeHead(200, { "Content-Type": "text/plain", "Transfer-Encoding": "chunked" })
    response.flushHeaders()
    yield* Stream.runForEach(bytes, (chunk) => Effect.sync(() => response.write(chunk)))
    response.end()
  })

const handle = (
  cluster: FakeClusterService,
  access: ApiAccess,
  logs: PodLogsService | undefined,
  request: IncomingMessage,
  response: ServerResponse
): Effect.Effect<void> => {
  const url = new URL(request.url ?? "/", "http://127.0.0.1")
  const path = url.pathname.replace(/\/+$/, "") || "/"
  const method = request.method ?? "GET"
  const program = Effect.gen(function* () {
    yield* access.check(request, url)
    const tokenRequest = access.tokenRequest(request, url)
    if (tokenRequest !== undefined) return yield* send(response, 201, yield* tokenRequest)
    const podLog = method === "GET" ? podLogPath.exec(path) : null
    if (podLog !== null) {
      return yield* servePodLog(
        cluster,
        logs,
        decodeURIComponent(podLog[1] ?? ""),
        decodeURIComponent(podLog[2] ?? ""),
        url,
        response
      )
    }
    if (method === "GET" && path.startsWith("/openapi/v3")) {
      const types = yield* cluster.resources
      const document =
        path === "/openapi/v3" ? openApiIndex(types) : openApiDocument(types, path.slice("/openapi/v3/".length))
      if (document === undefined) return yield* resourceNotFound()
      return yield* send(response, 200, document)
    }
    if (method === "GET" && isDiscovery(path)) {
      const body = yield* discovery(cluster, path, url)
      return yield* send(response, 200, body)
    }
    const route = yield* routeOf(cluster, path)
    const name = route.name
    if (name === undefined) {
      if (method === "GET") {
        const watch = query(url, "watch")
        if (watch === "1" || watch === "true")
          return yield* serveWatch(cluster, route, url, wantsTable(request), response)
        const list = yield* cluster.list(route.ref, {
          labelSelector: query(url, "labelSelector"),
          fieldSelector: query(url, "fieldSelector")
        })
        return yield* send(
          response,
          200,
          wantsTable(request)
            ? tableOf(route.type, list.items, list.metadata.resourceVersion, yield* Clock.currentTimeMillis)
            : list
        )
      }
      if (method === "POST") {
        const body = yield* readBody(request)
        return yield* send(response, 201, yield* cluster.create(route.ref, body, writeOptions(url)))
      }
      return yield* methodNotAllowed(
        `the server does not allow this method on the requested resource (${method} ${path})`
      )
    }
    if (route.scale) {
      if (method !== "GET" && method !== "PATCH" && method !== "PUT") {
        return yield* methodNotAllowed(
          `the server does not allow this method on the requested resource (${method} ${path})`
        )
      }
      const contentType = (request.headers["content-type"] ?? "").split(";")[0]?.trim() ?? ""
      const body = method === "GET" ? undefined : yield* readBody(request)
      return yield* send(
        response,
        200,
        yield* handleScale(cluster, route.type, route.ref, name, method, contentType, body)
      )
    }
    switch (method) {
      case "GET": {
        const object: StoredObject = yield* cluster.get(route.ref, name)
        return yield* send(
          response,
          200,
          wantsTable(request)
            ? tableOf(route.type, [object], object.metadata.resourceVersion ?? "", yield* Clock.currentTimeMillis)
            : object
        )
      }
      case "PUT": {
        const body = yield* readBody(request)
        const updated =
          route.subresource === "status"
            ? yield* cluster.replaceStatus(route.ref, name, body, writeOptions(url))
            : yield* cluster.replace(route.ref, name, body, writeOptions(url))
        return yield* send(response, 200, updated)
      }
      case "PATCH":
        return yield* send(response, 200, yield* handlePatch(cluster, route, name, request, url))
      case "DELETE": {
        const [code, body, warn] = yield* handleDelete(cluster, route, name, request, url)
        if (warn) {
          response.setHeader(
            "Warning",
            '299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"'
          )
        }
        return yield* send(response, code, body)
      }
      default:
        return yield* methodNotAllowed(
          `the server does not allow this method on the requested resource (${method} ${path})`
        )
    }
  })
  return program.pipe(
    Effect.catch((error) => sendStatus(response, error.status)),
    Effect.catchDefect((defect) =>
      sendStatus(response, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: `Internal error occurred: ${String(defect)}`,
        reason: "InternalError",
        code: 500
      })
    )
  )
}
