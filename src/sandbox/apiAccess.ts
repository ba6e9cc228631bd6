/**
 * The fake API server's access control, switched on with `rbac: true`: every request is authenticated (authn.ts)
 * and authorized with RBAC (rbac.ts) over the Roles and bindings in the store, before it is routed; a denial is
 * answered with the real server's 403 body and recorded (`denials`), like the audit log's `Forbidden` entries. The
 * bootstrap policy a real cluster starts with is created at start: `cluster-admin` (bound to `system:masters`),
 * `system:discovery` (discovery and OpenAPI paths for every authenticated user) and `system:public-info-viewer`
 * (`/version`, `/healthz`, `/livez`, `/readyz` for everyone).
 *
 * With `rbac: false` (the default) every request is the sandbox admin, and nothing is checked: what existed before
 * access control works unchanged.
 *
 * It also serves the TokenRequest subresource (`POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`, JSON or
 * the protobuf `kubectl create token` sends) and
 * issues the same tokens to the sandbox itself (the node agent's projected service-account volume).
 *
 * @since 0.1.0
 */
import type { IncomingMessage } from "node:http"
import { Effect, Schema } from "effect"
import { metaV1Time, nowMillis } from "../api/time.ts"
import { ApiStatusError, badRequest, invalid, notFound, unauthorized } from "./ApiStatus.ts"
import {
  adminUser,
  anonymousUser,
  apiServerAudience,
  bearerToken,
  serviceAccountUser,
  TokenAuthority
} from "./authn.ts"
import type { FakeClusterService } from "./FakeCluster.ts"
import { authorize, forbiddenStatus, type UserInfo } from "./rbac.ts"
import { type RequestAttributes, requestAttributes } from "./requestAttributes.ts"
import type { StoredObject } from "./StoredObject.ts"
import { decodeTokenRequestProtobuf } from "./tokenRequestProtobuf.ts"

/** One authorized request (RBAC on): who asked for what, as the authorizer saw it. */
export interface Access {
  readonly user: string
  readonly groups: ReadonlyArray<string>
  readonly verb: string
  /** Empty for non-resource requests. */
  readonly apiGroup: string
  readonly resource: string
  readonly subresource: string
  readonly namespace: string
  readonly name: string
  readonly path: string
}

/** One denied request. */
export interface Denial extends Access {
  /** The message of the 403 body. */
  readonly message: string
}

/** Options of a token issued by the sandbox itself. */
export interface IssueTokenOptions {
  readonly expirationSeconds?: number
  readonly audiences?: ReadonlyArray<string>
  /** Binds the token to this Pod: it stops working once the Pod is gone. */
  readonly pod?: string
}

/** The access control of one server. */
export interface ApiAccess {
  readonly enabled: boolean
  /** The sandbox admin's bearer token (what `writeKubeconfig` writes). */
  readonly adminToken: string
  /** Authenticates and authorizes a request; fails with the 401/403 Status to send. */
  readonly check: (request: IncomingMessage, url: URL) => Effect.Effect<UserInfo, ApiStatusError>
  /** The TokenRequest answer when `url` is a TokenRequest (else undefined: route it normally); reads the body. */
  readonly tokenRequest: (request: IncomingMessage, url: URL) => Effect.Effect<unknown, ApiStatusError> | undefined
  /** A token for a ServiceAccount (404 when it does not exist). */
  readonly issueToken: (
    namespace: string,
    serviceAccount: string,
    options?: IssueTokenOptions
  ) => Effect.Effect<string, ApiStatusError>
  /** The denied requests, oldest first (at least the latest 10,000). */
  readonly denials: Effect.Effect<ReadonlyArray<Denial>>
  readonly clearDenials: Effect.Effect<void>
  /**
   * The allowed requests, oldest first (at least the latest 10,000): unlike the store's audit it names the
   * identity, so one client's requests can be told from the test's own (the operator's permissions used).
   */
  readonly allowed: Effect.Effect<ReadonlyArray<Access>>
  readonly clearAllowed: Effect.Effect<void>
}

const rbacGroup = "rbac.authorization.k8s.io"
const refs = {
  serviceAccounts: { group: "", version: "v1", plural: "serviceaccounts" },
  pods: { group: "", version: "v1", plural: "pods" },
  roles: { group: rbacGroup, version: "v1", plural: "roles" },
  roleBindings: { group: rbacGroup, version: "v1", plural: "rolebindings" },
  clusterRoles: { group: rbacGroup, version: "v1", plural: "clusterroles" },
  clusterRoleBindings: { group: rbacGroup, version: "v1", plural: "clusterrolebindings" }
} as const

const bootstrapMeta = (name: string) => ({
  name,
  labels: { "kubernetes.io/bootstrapping": "rbac-defaults" },
  annotations: { "rbac.authorization.kubernetes.io/autoupdate": "true" }
})

/** The bootstrap ClusterRoles and ClusterRoleBindings of a real cluster that matter here. */
export const bootstrapPolicy = {
  clusterRoles: [
    {
      apiVersion: `${rbacGroup}/v1`,
      kind: "ClusterRole",
      metadata: bootstrapMeta("cluster-admin"),
      rules: [
        { apiGroups: ["*"], resources: ["*"], verbs: ["*"] },
        { nonResourceURLs: ["*"], verbs: ["*"] }
      ]
    },
    {
      apiVersion: `${rbacGroup}/v1`,
      kind: "ClusterRole",
      metadata: bootstrapMeta("system:discovery"),
      rules: [
        {
          nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version", "/version/"],
          verbs: ["get"]
        }
      ]
    },
    {
      apiVersion: `${rbacGroup}/v1`,
      kind: "ClusterRole",
      metadata: bootstrapMeta("system:public-info-viewer"),
      rules: [{ nonResourceURLs: ["/healthz", "/livez", "/readyz", "/version", "/version/"], verbs: ["get"] }]
    }
  ],
  clusterRoleBindings: [
    ["cluster-admin", ["system:masters"]],
    ["system:discovery", ["system:authenticated"]],
    ["system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]]
  ].map(([name, groups]) => ({
    apiVersion: `${rbacGroup}/v1`,
    kind: "ClusterRoleBinding",
    metadata: bootstrapMeta(name as string),
    roleRef: { apiGroup: rbacGroup, kind: "ClusterRole", name },
    subjects: (groups as ReadonlyArray<string>).map((group) => ({ apiGroup: rbacGroup, kind: "Group", name: group }))
  }))
}

const TokenRequestBody = Schema.Struct({
  spec: Schema.optionalKey(
    Schema.Struct({
      audiences: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.String))),
      expirationSeconds: Schema.optionalKey(Schema.NullOr(Schema.Number)),
      boundObjectRef: Schema.optionalKey(
        Schema.NullOr(
          Schema.Struct({ kind: Schema.optionalKey(Schema.String), name: Schema.optionalKey(Schema.String) })
        )
      )
    })
  )
})
const decodeTokenRequest = Schema.decodeUnknownEffect(TokenRequestBody)

const readBytes = (request: IncomingMessage): Effect.Effect<Buffer> =>
  Effect.callback<Buffer>((resume) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resume(Effect.succeed(Buffer.concat(chunks))))
    request.on("error", () => resume(Effect.succeed(Buffer.alloc(0))))
  })

/** A JSON body (an empty one is an empty TokenRequest), or undefined when it is not JSON. */
const parseJson = (bytes: Buffer): unknown => {
  if (bytes.length === 0) return {}
  try {
    return JSON.parse(bytes.toString("utf8"))
  } catch {
    return undefined
  }
}

/** At least this many of the latest denials (and allowed requests) are kept. */
const maxDenials = 10_000

const tokenRequestPath = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)\/token\/?$/

const serviceAccountsSubject = { group: "", plural: "serviceaccounts", kind: "ServiceAccount" }
const podsSubject = { group: "", plural: "pods", kind: "Pod" }

const accessOf = (user: UserInfo, request: RequestAttributes): Access => ({
  user: user.name,
  groups: user.groups,
  verb: request.verb,
  apiGroup: request.resourceRequest ? request.apiGroup : "",
  resource: request.resourceRequest ? request.resource : "",
  subresource: request.resourceRequest ? request.subresource : "",
  namespace: request.resourceRequest ? request.namespace : "",
  name: request.resourceRequest ? request.name : "",
  path: request.path
})

/** Creates the access control of one server (and, with `rbac`, the bootstrap policy in its store). */
export const makeApiAccess = (cluster: FakeClusterService, options: { readonly rbac: boolean }) =>
  Effect.gen(function* () {
    const authority = new TokenAuthority()
    let denials: Array<Denial> = []
    let allowed: Array<Access> = []
    if (options.rbac) {
      for (const role of bootstrapPolicy.clusterRoles) yield* cluster.system.create(refs.clusterRoles, role)
      for (const binding of bootstrapPolicy.clusterRoleBindings) {
        yield* cluster.system.create(refs.clusterRoleBindings, binding)
      }
    }

    const find = (objects: ReadonlyArray<StoredObject>, namespace: string, name: string) =>
      objects.find((object) => object.metadata.namespace === namespace && object.metadata.name === name)

    const nowSeconds = Effect.map(nowMillis, (millis) => Math.floor(millis / 1000))

    const authenticate = (header: string | undefined): Effect.Effect<UserInfo, ApiStatusError> =>
      Effect.gen(function* () {
        const token = bearerToken(header)
        if (token === undefined) return anonymousUser
        if (token === authority.adminToken) return adminUser
        const claims = authority.check(token, yield* nowSeconds)
        if (claims === undefined) return yield* unauthorized()
        const account = find(
          yield* cluster.system.list(refs.serviceAccounts),
          claims.namespace,
          claims.serviceAccount.name
        )
        if (account?.metadata.uid !== claims.serviceAccount.uid) return yield* unauthorized()
        if (claims.pod !== undefined) {
          const pod = find(yield* cluster.system.list(refs.pods), claims.namespace, claims.pod.name)
          if (pod?.metadata.uid !== claims.pod.uid) return yield* unauthorized()
        }
        return serviceAccountUser(claims.namespace, claims.serviceAccount.name, claims.serviceAccount.uid)
      })

    const check = (request: IncomingMessage, url: URL): Effect.Effect<UserInfo, ApiStatusError> =>
      Effect.gen(function* () {
        if (!options.rbac) return adminUser
        const user = yield* authenticate(request.headers.authorization)
        const attributes = requestAttributes(request.method ?? "GET", url)
        const policy = {
          roles: yield* cluster.system.list(refs.roles),
          roleBindings: yield* cluster.system.list(refs.roleBindings),
          clusterRoles: yield* cluster.system.list(refs.clusterRoles),
          clusterRoleBindings: yield* cluster.system.list(refs.clusterRoleBindings)
        }
        const decision = authorize(policy, user, attributes)
        if (decision.allowed) {
          allowed.push(accessOf(user, attributes))
          if (allowed.length > 2 * maxDenials) allowed = allowed.slice(-maxDenials)
          return user
        }
        const status = forbiddenStatus(user, attributes, decision.reason)
        denials.push({ ...accessOf(user, attributes), message: status.message })
        // bounded like the request audit: a denial loop in a long run must not grow without limit
        if (denials.length > 2 * maxDenials) denials = denials.slice(-maxDenials)
        return yield* new ApiStatusError({ status })
      })

    const issueToken = (
      namespace: string,
      name: string,
      issue: IssueTokenOptions = {}
    ): Effect.Effect<string, ApiStatusError> =>
      Effect.gen(function* () {
        const account = find(yield* cluster.system.list(refs.serviceAccounts), namespace, name)
        if (account === undefined) return yield* notFound(serviceAccountsSubject, name)
        let pod: { name: string; uid: string } | undefined
        if (issue.pod !== undefined) {
          const bound = find(yield* cluster.system.list(refs.pods), namespace, issue.pod)
          if (bound === undefined) return yield* notFound(podsSubject, issue.pod)
          pod = { name: issue.pod, uid: bound.metadata.uid ?? "" }
        }
        const issuedAt = yield* nowSeconds
        return authority.issue({
          namespace,
          serviceAccount: { name, uid: account.metadata.uid ?? "" },
          ...(pod === undefined ? {} : { pod }),
          audiences: issue.audiences ?? [apiServerAudience],
          issuedAt,
          expiresAt: issuedAt + (issue.expirationSeconds ?? 3600)
        })
      })

    const tokenRequest = (incoming: IncomingMessage, url: URL) => {
      const match = tokenRequestPath.exec(url.pathname)
      if (match === null) return undefined
      const namespace = decodeURIComponent(match[1] ?? "")
      const name = decodeURIComponent(match[2] ?? "")
      return Effect.gen(function* () {
        const method = incoming.method ?? "GET"
        if (method !== "POST") return yield* badRequest(`the token subresource only supports create (got ${method})`)
        const contentType = incoming.headers["content-type"] ?? ""
        const bytes = yield* readBytes(incoming)
        const body = contentType.includes("protobuf") ? decodeTokenRequestProtobuf(bytes) : parseJson(bytes)
        if (body === undefined) {
          return yield* badRequest(
            `the body of the request was in an unknown format: not a TokenRequest (${contentType})`
          )
        }
        const request = yield* decodeTokenRequest(body).pipe(
          Effect.mapError((error) => badRequest(`invalid TokenRequest: ${error.message}`))
        )
        const spec = request.spec ?? {}
        const expirationSeconds = spec.expirationSeconds ?? 3600
        if (expirationSeconds < 600) {
          return yield* invalid(
            { group: "authentication.k8s.io", plural: "tokenrequests", kind: "TokenRequest" },
            name,
            [
              {
                reason: "FieldValueInvalid",
                message: `Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes`,
                field: "spec.expirationSeconds"
              }
            ]
          )
        }
        const bound = spec.boundObjectRef ?? undefined
        const audiences = spec.audiences ?? [apiServerAudience]
        const token = yield* issueToken(namespace, name, {
          expirationSeconds,
          audiences,
          ...(bound?.kind === "Pod" && bound.name !== undefined ? { pod: bound.name } : {})
        })
        const now = yield* nowMillis
        return {
          kind: "TokenRequest",
          apiVersion: "authentication.k8s.io/v1",
          metadata: { name, namespace, creationTimestamp: null },
          spec: { audiences, expirationSeconds, boundObjectRef: bound ?? null },
          status: { token, expirationTimestamp: metaV1Time(now + expirationSeconds * 1000) }
        }
      })
    }

    return {
      enabled: options.rbac,
      adminToken: authority.adminToken,
      check,
      tokenRequest,
      issueToken,
      denials: Effect.sync(() => [...denials]),
      clearDenials: Effect.sync(() => {
        denials = []
      }),
      allowed: Effect.sync(() => [...allowed]),
      clearAllowed: Effect.sync(() => {
        allowed = []
      })
    } satisfies ApiAccess
  })
