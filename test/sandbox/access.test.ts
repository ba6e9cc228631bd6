/**
 * Conformance of the fake API server's access control, one test per rule of the Kubernetes pages it follows
 * ("Authenticating", "Managing Service Accounts", "Using RBAC Authorization", "Authorization" for the request
 * attributes): exercised over HTTP with bearer tokens, with the real `kubectl`, and with client-node's in-cluster
 * configuration over HTTPS. Every 403 body is compared whole, as the real server writes it.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Agent, request as undiciRequest } from "undici"
import { parseAllDocuments } from "yaml"
import { operatorNames, operatorNamespace } from "../../src/api/install.ts"
import { leaderElectionRules, operatorRules, permissionsOf } from "../../src/api/rbac.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { loadKubeConfig } from "../../src/kube/kubeConfig.ts"
import { Resources } from "../../src/kube/resources.ts"
import { FakeApiServer } from "../../src/sandbox/FakeApiServer.ts"
import { FakeCluster } from "../../src/sandbox/FakeCluster.ts"
import { layerLiveOnFakeServerWith } from "../../src/sandbox/KubeApiFake.ts"
import { permissionsUsed } from "../../src/sandbox/permissionsUsed.ts"
import { authorize, serviceAccountUserName } from "../../src/sandbox/rbac.ts"
import { requestAttributes } from "../../src/sandbox/requestAttributes.ts"
import type { StoredObject } from "../../src/sandbox/StoredObject.ts"
import { backup, paths } from "./http.ts"

const repo = join(import.meta.dirname, "..", "..")

// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON replies
type Json = any

interface Reply {
  readonly status: number
  readonly body: Json
}

/** One request with an optional bearer token; over HTTPS it trusts the server's CA. */
const send = (
  method: string,
  path: string,
  options: { readonly token?: string; readonly body?: unknown; readonly contentType?: string } = {}
): Effect.Effect<Reply, never, FakeApiServer> =>
  Effect.gen(function* () {
    const server = yield* FakeApiServer
    return yield* Effect.promise(async () => {
      const dispatcher = new Agent({ connect: server.caCertificate === undefined ? {} : { ca: server.caCertificate } })
      try {
        const response = await undiciRequest(`${server.url}${path}`, {
          method: method as "GET",
          dispatcher,
          headers: {
            ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
            ...(options.body === undefined ? {} : { "content-type": options.contentType ?? "application/json" })
          },
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
        })
        const text = await response.body.text()
        return { status: response.statusCode, body: text === "" ? undefined : JSON.parse(text) }
      } finally {
        await dispatcher.close()
      }
    })
  })

const rbacServer = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.provide(FakeApiServer.layerTestWith({ rbac: true })))

const rbac = "rbac.authorization.k8s.io"
const refs = {
  serviceAccounts: (namespace: string) => ({ group: "", version: "v1", plural: "serviceaccounts", namespace }),
  pods: (namespace: string) => ({ group: "", version: "v1", plural: "pods", namespace }),
  roles: (namespace: string) => ({ group: rbac, version: "v1", plural: "roles", namespace }),
  roleBindings: (namespace: string) => ({ group: rbac, version: "v1", plural: "rolebindings", namespace }),
  clusterRoles: { group: rbac, version: "v1", plural: "clusterroles" },
  clusterRoleBindings: { group: rbac, version: "v1", plural: "clusterrolebindings" },
  backups: (namespace: string) => ({
    group: "mysql.cloudnative-mysql.io",
    version: "v1alpha1",
    plural: "backups",
    namespace
  })
}

/** A ServiceAccount `name` in `namespace` and a token for it. */
const serviceAccount = (namespace: string, name: string) =>
  Effect.gen(function* () {
    const fake = yield* FakeCluster
    const server = yield* FakeApiServer
    yield* fake.create(refs.serviceAccounts(namespace), { metadata: { name } })
    return yield* server.issueToken(namespace, name)
  })

const userOf = (namespace: string, name: string) => `system:serviceaccount:${namespace}:${name}`

type Rule = Record<string, ReadonlyArray<string>>

/** A Role (or ClusterRole when `namespace` is undefined) with `rules`. */
const role = (name: string, rules: ReadonlyArray<Rule>, namespace?: string) =>
  Effect.flatMap(FakeCluster, (fake) =>
    namespace === undefined
      ? fake.create(refs.clusterRoles, { metadata: { name }, rules })
      : fake.create(refs.roles(namespace), { metadata: { name }, rules })
  )

/** A RoleBinding (or ClusterRoleBinding when `namespace` is undefined) of `roleRef` to `subjects`. */
const bind = (
  name: string,
  roleRef: { readonly kind: "Role" | "ClusterRole"; readonly name: string },
  subjects: ReadonlyArray<Record<string, string>>,
  namespace?: string
) =>
  Effect.flatMap(FakeCluster, (fake) => {
    const body = { metadata: { name }, roleRef: { apiGroup: rbac, ...roleRef }, subjects }
    return namespace === undefined
      ? fake.create(refs.clusterRoleBindings, body)
      : fake.create(refs.roleBindings(namespace), body)
  })

const saSubject = (namespace: string, name: string) => ({ kind: "ServiceAccount", name, namespace })

/** The real server's 403 body. */
const forbiddenBody = (message: string, details: Record<string, string>) => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message,
  reason: "Forbidden",
  details,
  code: 403
})

describe("authentication", () => {
  it.live("Authenticating: a request without credentials is system:anonymous — public info only", () =>
    rbacServer(
      Effect.gen(function* () {
        assert.strictEqual((yield* send("GET", "/version")).status, 200)
        const discovery = yield* send("GET", "/api")
        assert.deepStrictEqual(
          discovery.body,
          forbiddenBody('forbidden: User "system:anonymous" cannot get path "/api"', {})
        )
        const pods = yield* send("GET", "/api/v1/pods")
        assert.deepStrictEqual(
          pods.body,
          forbiddenBody(
            'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" at the cluster scope',
            { kind: "pods" }
          )
        )
      })
    )
  )

  it.live("Authenticating: a bearer token that does not check out is 401 Unauthorized", () =>
    rbacServer(
      Effect.gen(function* () {
        const reply = yield* send("GET", "/api/v1/namespaces/default/pods", { token: "not-a-token" })
        assert.strictEqual(reply.status, 401)
        assert.deepStrictEqual(reply.body, {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: "Unauthorized",
          reason: "Unauthorized",
          code: 401
        })
        const server = yield* FakeApiServer
        const forged = `${(yield* serviceAccount("default", "app")).slice(0, -4)}AAAA`
        assert.strictEqual((yield* send("GET", "/version", { token: forged })).status, 401)
        assert.strictEqual((yield* send("GET", "/api/v1/pods", { token: server.adminToken })).status, 200)
      })
    )
  )

  it.live("Authenticating: the sandbox admin (system:masters) may do everything, also create RBAC objects", () =>
    rbacServer(
      Effect.gen(function* () {
        const server = yield* FakeApiServer
        const token = server.adminToken
        assert.strictEqual((yield* send("POST", paths.backups(), { token, body: backup("b1") })).status, 201)
        const created = yield* send("POST", `/apis/${rbac}/v1/clusterroles`, {
          token,
          body: { metadata: { name: "reader" }, rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get"] }] }
        })
        assert.strictEqual(created.status, 201)
        const bootstrap = yield* send("GET", `/apis/${rbac}/v1/clusterroles`, { token })
        const names = bootstrap.body.items.map((item: Json) => item.metadata.name)
        for (const name of ["cluster-admin", "system:discovery", "system:public-info-viewer", "reader"]) {
          assert.include(names, name)
        }
        assert.deepStrictEqual(yield* server.denials, [])
      })
    )
  )

  it.live("Managing Service Accounts: TokenRequest issues a token that authenticates as the ServiceAccount", () =>
    rbacServer(
      Effect.gen(function* () {
        const server = yield* FakeApiServer
        const fake = yield* FakeCluster
        yield* fake.create(refs.serviceAccounts("apps"), { metadata: { name: "worker" } })
        const reply = yield* send("POST", "/api/v1/namespaces/apps/serviceaccounts/worker/token", {
          token: server.adminToken,
          body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } }
        })
        assert.strictEqual(reply.status, 201)
        assert.strictEqual(reply.body.kind, "TokenRequest")
        assert.match(reply.body.status.expirationTimestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
        const token = reply.body.status.token as string
        const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"))
        assert.strictEqual(claims.sub, "system:serviceaccount:apps:worker")
        assert.strictEqual(claims["kubernetes.io"].serviceaccount.name, "worker")
        // authenticated: discovery is allowed (system:discovery), pods are not
        assert.strictEqual((yield* send("GET", "/api", { token })).status, 200)
        const pods = yield* send("GET", "/api/v1/namespaces/apps/pods", { token })
        assert.strictEqual(
          pods.body.message,
          'pods is forbidden: User "system:serviceaccount:apps:worker" cannot list resource "pods" in API group "" in the namespace "apps"'
        )
        const missing = yield* send("POST", "/api/v1/namespaces/apps/serviceaccounts/nobody/token", {
          token: server.adminToken,
          body: { spec: {} }
        })
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(missing.body.message, 'serviceaccounts "nobody" not found')
        const garbage = yield* send("POST", "/api/v1/namespaces/apps/serviceaccounts/worker/token", {
          token: server.adminToken,
          body: "k8s",
          contentType: "application/vnd.kubernetes.protobuf"
        })
        assert.strictEqual(garbage.status, 400)
        const short = yield* send("POST", "/api/v1/namespaces/apps/serviceaccounts/worker/token", {
          token: server.adminToken,
          body: { spec: { expirationSeconds: 60 } }
        })
        assert.strictEqual(short.status, 422)
      })
    )
  )

  it.live("Managing Service Accounts: TokenRequest is the create verb on serviceaccounts/token", () =>
    rbacServer(
      Effect.gen(function* () {
        const token = yield* serviceAccount("apps", "minter")
        yield* (yield* FakeCluster).create(refs.serviceAccounts("apps"), { metadata: { name: "other" } })
        const denied = yield* send("POST", "/api/v1/namespaces/apps/serviceaccounts/other/token", {
          token,
          body: { spec: {} }
        })
        assert.deepStrictEqual(
          denied.body,
          forbiddenBody(
            `serviceaccounts "other" is forbidden: User "${userOf("apps", "minter")}" cannot create resource "serviceaccounts/token" in API group "" in the namespace "apps"`,
            { name: "other", kind: "serviceaccounts" }
          )
        )
        yield* role("mint", [{ apiGroups: [""], resources: ["serviceaccounts/token"], verbs: ["create"] }], "apps")
        yield* bind("mint", { kind: "Role", name: "mint" }, [saSubject("apps", "minter")], "apps")
        const allowed = yield* send("POST", "/api/v1/namespaces/apps/serviceaccounts/other/token", {
          token,
          body: { spec: {} }
        })
        assert.strictEqual(allowed.status, 201)
      })
    )
  )

  it.live("Managing Service Accounts: deleting a ServiceAccount revokes its tokens, even when it is recreated", () =>
    rbacServer(
      Effect.gen(function* () {
        const fake = yield* FakeCluster
        const token = yield* serviceAccount("apps", "app")
        assert.strictEqual((yield* send("GET", "/api", { token })).status, 200)
        yield* fake.delete(refs.serviceAccounts("apps"), "app")
        assert.strictEqual((yield* send("GET", "/api", { token })).status, 401)
        yield* fake.create(refs.serviceAccounts("apps"), { metadata: { name: "app" } })
        assert.strictEqual((yield* send("GET", "/api", { token })).status, 401, "a new uid: the old token stays dead")
      })
    )
  )

  it.live(
    "Managing Service Accounts: a Pod-bound token dies with its Pod; expired or foreign-audience tokens are 401",
    () =>
      rbacServer(
        Effect.gen(function* () {
          const fake = yield* FakeCluster
          const server = yield* FakeApiServer
          yield* serviceAccount("apps", "app")
          yield* fake.create(refs.pods("apps"), {
            metadata: { name: "p" },
            spec: { serviceAccountName: "app", containers: [{ name: "c", image: "busybox:1.36" }] }
          })
          const bound = yield* server.issueToken("apps", "app", { pod: "p" })
          assert.strictEqual((yield* send("GET", "/api", { token: bound })).status, 200)
          yield* fake.delete(refs.pods("apps"), "p")
          assert.strictEqual((yield* send("GET", "/api", { token: bound })).status, 401)
          const foreign = yield* server.issueToken("apps", "app", { audiences: ["vault"] })
          assert.strictEqual((yield* send("GET", "/api", { token: foreign })).status, 401)
          const brief = yield* server.issueToken("apps", "app", { expirationSeconds: 3 })
          assert.strictEqual((yield* send("GET", "/api", { token: brief })).status, 200)
          yield* Effect.sleep("3500 millis")
          assert.strictEqual((yield* send("GET", "/api", { token: brief })).status, 401)
        })
      )
  )
})

describe("RBAC authorization", () => {
  it.live("Role and RoleBinding: grant in their namespace only; a cluster-wide request is not granted", () =>
    rbacServer(
      Effect.gen(function* () {
        const token = yield* serviceAccount("team-a", "app")
        yield* role("pod-reader", [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }], "team-a")
        yield* bind("read-pods", { kind: "Role", name: "pod-reader" }, [saSubject("team-a", "app")], "team-a")
        assert.strictEqual((yield* send("GET", paths.pods("team-a"), { token })).status, 200)
        const other = yield* send("GET", paths.pods("team-b"), { token })
        assert.deepStrictEqual(
          other.body,
          forbiddenBody(
            `pods is forbidden: User "${userOf("team-a", "app")}" cannot list resource "pods" in API group "" in the namespace "team-b"`,
            { kind: "pods" }
          )
        )
        const everywhere = yield* send("GET", "/api/v1/pods", { token })
        assert.strictEqual(everywhere.status, 403)
        assert.include(everywhere.body.message, "at the cluster scope")
      })
    )
  )

  it.live("ClusterRole bound by a RoleBinding: its rules apply in that namespace only", () =>
    rbacServer(
      Effect.gen(function* () {
        const token = yield* serviceAccount("team-a", "app")
        yield* role("backup-viewer", [
          { apiGroups: ["mysql.cloudnative-mysql.io"], resources: ["backups"], verbs: ["get", "list", "watch"] }
        ])
        yield* bind("view", { kind: "ClusterRole", name: "backup-viewer" }, [saSubject("team-a", "app")], "team-a")
        assert.strictEqual((yield* send("GET", paths.backups("team-a"), { token })).status, 200)
        const other = yield* send("GET", paths.backups("team-b"), { token })
        assert.strictEqual(
          other.body.message,
          `backups.mysql.cloudnative-mysql.io is forbidden: User "${userOf("team-a", "app")}" cannot list resource "backups" in API group "mysql.cloudnative-mysql.io" in the namespace "team-b"`
        )
        assert.deepStrictEqual(other.body.details, { group: "mysql.cloudnative-mysql.io", kind: "backups" })
      })
    )
  )

  it.live("ClusterRoleBinding: grants in every namespace and on cluster-scoped kinds", () =>
    rbacServer(
      Effect.gen(function* () {
        const token = yield* serviceAccount("ops", "admin-bot")
        yield* role("ns-and-pods", [{ apiGroups: [""], resources: ["pods", "namespaces"], verbs: ["list"] }])
        yield* bind("ns-and-pods", { kind: "ClusterRole", name: "ns-and-pods" }, [saSubject("ops", "admin-bot")])
        for (const path of ["/api/v1/pods", paths.pods("x"), paths.pods("y"), "/api/v1/namespaces"]) {
          assert.strictEqual((yield* send("GET", path, { token })).status, 200, path)
        }
      })
    )
  )

  it.live("Referring to resources: verbs are distinct (get ≠ list ≠ watch), mapped from the method and the URL", () =>
    rbacServer(
      Effect.gen(function* () {
        const token = yield* serviceAccount("apps", "app")
        const fake = yield* FakeCluster
        yield* fake.create(refs.backups("apps"), backup("b1"))
        yield* role(
          "get-only",
          [{ apiGroups: ["mysql.cloudnative-mysql.io"], resources: ["backups"], verbs: ["get"] }],
          "apps"
        )
        yield* bind("get-only", { kind: "Role", name: "get-only" }, [saSubject("apps", "app")], "apps")
        assert.strictEqual((yield* send("GET", `${paths.backups("apps")}/b1`, { token })).status, 200)
        const verbOf = (reply: Reply) => /cannot (\S+) resource/.exec(reply.body.message)?.[1]
        assert.strictEqual(verbOf(yield* send("GET", paths.backups("apps"), { token })), "list")
        assert.strictEqual(verbOf(yield* send("GET", `${paths.backups("apps")}?watch=true`, { token })), "watch")
        assert.strictEqual(verbOf(yield* send("POST", paths.backups("apps"), { token, body: backup("b2") })), "create")
        assert.strictEqual(verbOf(yield* send("PUT", `${paths.backups("apps")}/b1`, { token, body: {} })), "update")
        const patch = { token, body: {}, contentType: "application/merge-patch+json" }
        assert.strictEqual(verbOf(yield* send("PATCH", `${paths.backups("apps")}/b1`, patch)), "patch")
        assert.strictEqual(verbOf(yield* send("DELETE", `${paths.backups("apps")}/b1`, { token })), "delete")
        assert.strictEqual(verbOf(yield* send("DELETE", paths.backups("apps"), { token })), "deletecollection")
      })
    )
  )

  it.live(
    "Referring to resources: a subresource is its own resource (backups/status), * /status grants every status",
    () =>
      rbacServer(
        Effect.gen(function* () {
          const token = yield* serviceAccount("apps", "worker")
          const fake = yield* FakeCluster
          yield* fake.create(refs.backups("apps"), backup("b1"))
          yield* role(
            "status-writer",
            [{ apiGroups: ["mysql.cloudnative-mysql.io"], resources: ["backups/status"], verbs: ["get", "patch"] }],
            "apps"
          )
          yield* bind("status-writer", { kind: "Role", name: "status-writer" }, [saSubject("apps", "worker")], "apps")
          const patch = (path: string) =>
            send("PATCH", path, {
              token,
              body: { status: { phase: "running" } },
              contentType: "application/merge-patch+json"
            })
          assert.strictEqual((yield* patch(`${paths.backups("apps")}/b1/status`)).status, 200)
          const main = yield* patch(`${paths.backups("apps")}/b1`)
          assert.deepStrictEqual(
            main.body,
            forbiddenBody(
              `backups.mysql.cloudnative-mysql.io "b1" is forbidden: User "${userOf("apps", "worker")}" cannot patch resource "backups" in API group "mysql.cloudnative-mysql.io" in the namespace "apps"`,
              { name: "b1", group: "mysql.cloudnative-mysql.io", kind: "backups" }
            )
          )
          // and the other way round: `backups` does not grant `backups/status`
          const other = yield* serviceAccount("apps", "editor")
          yield* role(
            "editor",
            [{ apiGroups: ["mysql.cloudnative-mysql.io"], resources: ["backups"], verbs: ["patch"] }],
            "apps"
          )
          yield* bind("editor", { kind: "Role", name: "editor" }, [saSubject("apps", "editor")], "apps")
          const status = yield* send("PATCH", `${paths.backups("apps")}/b1/status`, {
            token: other,
            body: { status: {} },
            contentType: "application/merge-patch+json"
          })
          assert.strictEqual(
            status.body.message,
            `backups.mysql.cloudnative-mysql.io "b1" is forbidden: User "${userOf("apps", "editor")}" cannot patch resource "backups/status" in API group "mysql.cloudnative-mysql.io" in the namespace "apps"`
          )
          yield* role("any-status", [{ apiGroups: ["*"], resources: ["*/status"], verbs: ["patch"] }], "apps")
          yield* bind("any-status", { kind: "Role", name: "any-status" }, [saSubject("apps", "editor")], "apps")
          const again = yield* send("PATCH", `${paths.backups("apps")}/b1/status`, {
            token: other,
            body: { status: {} },
            contentType: "application/merge-patch+json"
          })
          assert.strictEqual(again.status, 200)
        })
      )
  )

  it.live(
    "Referring to resources: resourceNames restrict a rule to those objects — never a create, a list only by name",
    () =>
      rbacServer(
        Effect.gen(function* () {
          const token = yield* serviceAccount("apps", "worker")
          const fake = yield* FakeCluster
          yield* fake.create(refs.backups("apps"), backup("mine"))
          yield* fake.create(refs.backups("apps"), backup("theirs"))
          yield* role(
            "one-backup",
            [
              {
                apiGroups: ["mysql.cloudnative-mysql.io"],
                resources: ["backups"],
                resourceNames: ["mine"],
                verbs: ["get", "list", "watch", "create"]
              }
            ],
            "apps"
          )
          yield* bind("one-backup", { kind: "Role", name: "one-backup" }, [saSubject("apps", "worker")], "apps")
          assert.strictEqual((yield* send("GET", `${paths.backups("apps")}/mine`, { token })).status, 200)
          const theirs = yield* send("GET", `${paths.backups("apps")}/theirs`, { token })
          assert.deepStrictEqual(theirs.body.details, {
            name: "theirs",
            group: "mysql.cloudnative-mysql.io",
            kind: "backups"
          })
          assert.strictEqual((yield* send("GET", paths.backups("apps"), { token })).status, 403)
          const byName = yield* send("GET", `${paths.backups("apps")}?fieldSelector=metadata.name%3Dmine`, { token })
          assert.strictEqual(byName.status, 200)
          assert.strictEqual(byName.body.items.length, 1)
          assert.strictEqual((yield* send("POST", paths.backups("apps"), { token, body: backup("mine") })).status, 403)
        })
      )
  )

  it.live("Subjects: Groups, Users by name, ServiceAccounts (namespace defaults to the RoleBinding's)", () =>
    rbacServer(
      Effect.gen(function* () {
        const a = yield* serviceAccount("team-a", "a")
        const b = yield* serviceAccount("team-a", "b")
        const c = yield* serviceAccount("team-c", "c")
        yield* role("pod-lister", [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }])
        yield* bind("team-a-all", { kind: "ClusterRole", name: "pod-lister" }, [
          { kind: "Group", apiGroup: rbac, name: "system:serviceaccounts:team-a" }
        ])
        assert.strictEqual((yield* send("GET", "/api/v1/pods", { token: a })).status, 200)
        assert.strictEqual((yield* send("GET", "/api/v1/pods", { token: b })).status, 200)
        assert.strictEqual((yield* send("GET", "/api/v1/pods", { token: c })).status, 403)
        // in a RoleBinding, a ServiceAccount subject without a namespace is one of the binding's namespace
        yield* bind(
          "local",
          { kind: "ClusterRole", name: "pod-lister" },
          [{ kind: "ServiceAccount", name: "c" }],
          "team-c"
        )
        assert.strictEqual((yield* send("GET", paths.pods("team-c"), { token: c })).status, 200)
        assert.strictEqual((yield* send("GET", "/api/v1/pods", { token: c })).status, 403)
        yield* bind("by-user-name", { kind: "ClusterRole", name: "pod-lister" }, [
          { kind: "User", apiGroup: rbac, name: userOf("team-c", "c") }
        ])
        assert.strictEqual((yield* send("GET", "/api/v1/pods", { token: c })).status, 200)
      })
    )
  )

  it.live("RBAC validation: rules need verbs, groups, resources; URLs only in ClusterRoles; roleRef is immutable", () =>
    rbacServer(
      Effect.gen(function* () {
        const server = yield* FakeApiServer
        const token = server.adminToken
        const roles = `/apis/${rbac}/v1/namespaces/apps/roles`
        const namespacedUrls = yield* send("POST", roles, {
          token,
          body: { metadata: { name: "bad" }, rules: [{ nonResourceURLs: ["/metrics"], verbs: ["get"] }] }
        })
        assert.strictEqual(namespacedUrls.status, 422)
        assert.strictEqual(
          namespacedUrls.body.message,
          `Role.${rbac} "bad" is invalid: rules[0].nonResourceURLs: Invalid value: []string{"/metrics"}: namespaced rules cannot apply to non-resource URLs`
        )
        const empty = yield* send("POST", roles, { token, body: { metadata: { name: "empty" }, rules: [{}] } })
        assert.deepStrictEqual(
          empty.body.details.causes.map((cause: Json) => `${cause.field}: ${cause.message}`),
          [
            "rules[0].verbs: Required value: verbs must contain at least one value",
            "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
            "rules[0].resources: Required value: resource rules must supply at least one resource"
          ]
        )
        const noNamespace = yield* send("POST", `/apis/${rbac}/v1/clusterrolebindings`, {
          token,
          body: {
            metadata: { name: "x" },
            roleRef: { apiGroup: rbac, kind: "Role", name: "r" },
            subjects: [{ kind: "ServiceAccount", name: "c" }]
          }
        })
        assert.deepStrictEqual(
          noNamespace.body.details.causes.map((cause: Json) => cause.field),
          ["roleRef.kind", "subjects[0].namespace"]
        )
        const binding = yield* bind("fixed", { kind: "ClusterRole", name: "view" }, [saSubject("apps", "a")], "apps")
        const changed = yield* send("PUT", `/apis/${rbac}/v1/namespaces/apps/rolebindings/fixed`, {
          token,
          body: { ...binding, roleRef: { apiGroup: rbac, kind: "ClusterRole", name: "edit" } }
        })
        assert.strictEqual(changed.status, 422)
        assert.include(
          changed.body.message,
          `roleRef: Invalid value: rbac.RoleRef{APIGroup:"${rbac}", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef`
        )
      })
    )
  )

  it.live("Non-resource URLs: granted by ClusterRoles through ClusterRoleBindings, exactly or by a trailing *", () =>
    rbacServer(
      Effect.gen(function* () {
        const token = yield* serviceAccount("apps", "scraper")
        const metrics = yield* send("GET", "/metrics", { token })
        assert.deepStrictEqual(
          metrics.body,
          forbiddenBody(`forbidden: User "${userOf("apps", "scraper")}" cannot get path "/metrics"`, {})
        )
        // bound in a namespace, a ClusterRole's non-resource rules grant nothing
        yield* role("metrics-reader", [{ nonResourceURLs: ["/metrics", "/debug/*"], verbs: ["get"] }])
        yield* bind("in-ns", { kind: "ClusterRole", name: "metrics-reader" }, [saSubject("apps", "scraper")], "apps")
        assert.strictEqual((yield* send("GET", "/metrics", { token })).status, 403)
        yield* bind("scrape", { kind: "ClusterRole", name: "metrics-reader" }, [saSubject("apps", "scraper")])
        // allowed, then not served by the fake: 404, not 403
        assert.strictEqual((yield* send("GET", "/metrics", { token })).status, 404)
        assert.strictEqual((yield* send("GET", "/debug/pprof", { token })).status, 404)
        assert.strictEqual((yield* send("GET", "/metricsx", { token })).status, 403)
        // the verb of a non-resource request is the method
        const post = yield* send("POST", "/api", { token, body: {} })
        assert.strictEqual(post.body.message, `forbidden: User "${userOf("apps", "scraper")}" cannot post path "/api"`)
      })
    )
  )

  it.live("A binding to a role that does not exist grants nothing, and the 403 says why", () =>
    rbacServer(
      Effect.gen(function* () {
        const token = yield* serviceAccount("apps", "app")
        yield* bind("dangling", { kind: "ClusterRole", name: "missing" }, [saSubject("apps", "app")])
        yield* bind("dangling", { kind: "Role", name: "gone" }, [saSubject("apps", "app")], "apps")
        const reply = yield* send("GET", paths.pods("apps"), { token })
        assert.strictEqual(
          reply.body.message,
          `pods is forbidden: User "${userOf("apps", "app")}" cannot list resource "pods" in API group "" in the namespace "apps": RBAC: [clusterrole.rbac.authorization.k8s.io "missing" not found, role.rbac.authorization.k8s.io "gone" not found]`
        )
      })
    )
  )

  it.live(
    "Audit: every denial is recorded with the user, the request attributes and the message; allowed ones are not",
    () =>
      rbacServer(
        Effect.gen(function* () {
          const server = yield* FakeApiServer
          const token = yield* serviceAccount("apps", "app")
          assert.strictEqual((yield* send("GET", "/api", { token })).status, 200)
          const reply = yield* send("DELETE", `${paths.jobs("apps")}/j1`, { token })
          assert.deepStrictEqual(yield* server.denials, [
            {
              user: userOf("apps", "app"),
              groups: ["system:serviceaccounts", "system:serviceaccounts:apps", "system:authenticated"],
              verb: "delete",
              apiGroup: "batch",
              resource: "jobs",
              subresource: "",
              namespace: "apps",
              name: "j1",
              path: "/apis/batch/v1/namespaces/apps/jobs/j1",
              message: reply.body.message
            }
          ])
          yield* server.clearDenials
          assert.deepStrictEqual(yield* server.denials, [])
        })
      )
  )
})

/** The operator's RBAC objects as deploy/rbac ships them. */
const rbacObjects: ReadonlyArray<StoredObject> = [
  "role.yaml",
  "role_binding.yaml",
  "leader_election_role.yaml",
  "leader_election_role_binding.yaml"
]
  .flatMap((file) => parseAllDocuments(readFileSync(join(repo, "deploy", "rbac", file), "utf8")))
  .map((document) => document.toJS() as StoredObject)

describe("the operator's shipped role, as this authorizer evaluates it", () => {
  const policy = {
    roles: rbacObjects.filter((object) => object.kind === "Role"),
    roleBindings: rbacObjects.filter((object) => object.kind === "RoleBinding"),
    clusterRoles: rbacObjects.filter((object) => object.kind === "ClusterRole"),
    clusterRoleBindings: rbacObjects.filter((object) => object.kind === "ClusterRoleBinding")
  }
  const operator = {
    name: serviceAccountUserName(operatorNamespace, operatorNames.serviceAccount),
    groups: ["system:serviceaccounts", `system:serviceaccounts:${operatorNamespace}`, "system:authenticated"]
  }
  const ask = (verb: string, apiGroup: string, resourceAndSub: string, namespace: string) => {
    const [resource = "", subresource = ""] = resourceAndSub.split("/")
    return authorize(policy, operator, {
      resourceRequest: true,
      verb,
      apiGroup,
      apiVersion: "v1",
      resource,
      subresource,
      namespace,
      name: "x",
      path: ""
    }).allowed
  }
  const allVerbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]

  it("grants every verb src/api/rbac.ts lists — and no other — in any namespace", () => {
    for (const rule of operatorRules) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          for (const verb of allVerbs) {
            assert.strictEqual(ask(verb, group, resource, "db"), rule.verbs.includes(verb), `${verb} ${resource}`)
          }
        }
      }
    }
  })

  it("grants the leader-election rules in the operator's namespace only", () => {
    for (const rule of leaderElectionRules) {
      for (const resource of rule.resources) {
        for (const verb of rule.verbs) {
          assert.isTrue(ask(verb, rule.apiGroups[0] ?? "", resource, operatorNamespace), `${verb} ${resource}`)
        }
      }
    }
    assert.isFalse(ask("update", "coordination.k8s.io", "leases", "db"))
    assert.isFalse(ask("list", "", "secrets", operatorNamespace))
  })
})

describe("clients: kubectl, and client-node in-cluster over HTTPS", () => {
  const kubectl = (env: Record<string, string>, ...args: Array<string>) =>
    Effect.callback<{ code: number; stdout: string; stderr: string }>((resume) => {
      execFile("kubectl", args, { env: { ...process.env, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
        resume(
          Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
        )
      })
    })

  const tempDir = Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "sandbox-access-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

  it.live(
    "kubectl over HTTPS: the admin applies deploy/rbac and creates a token; the operator reads backups, not secrets",
    () =>
      Effect.gen(function* () {
        const server = yield* FakeApiServer
        assert.isTrue(server.url.startsWith("https://127.0.0.1:"))
        const dir = yield* tempDir
        const env = { KUBECONFIG: yield* server.writeKubeconfig(join(dir, "config")), HOME: dir }
        const applied = yield* kubectl(env, "apply", "-k", join(repo, "deploy", "rbac"))
        assert.strictEqual(applied.code, 0, applied.stderr)
        assert.include(applied.stdout, `clusterrole.rbac.authorization.k8s.io/${operatorNames.clusterRole} created`)
        // kubectl create token sends the TokenRequest as protobuf
        const minted = yield* kubectl(env, "create", "token", operatorNames.serviceAccount, "-n", operatorNamespace)
        assert.strictEqual(minted.code, 0, minted.stderr)
        const token = minted.stdout.trim()
        const long = yield* kubectl(
          env,
          "create",
          "token",
          operatorNames.serviceAccount,
          "-n",
          operatorNamespace,
          "--duration",
          "2h"
        )
        const claims = JSON.parse(Buffer.from(long.stdout.trim().split(".")[1] ?? "", "base64url").toString("utf8"))
        assert.strictEqual(claims.exp - claims.iat, 7200)
        const listed = yield* kubectl(env, "--token", token, "get", "backups", "-A")
        assert.strictEqual(listed.code, 0, listed.stderr)
        const secrets = yield* kubectl(env, "--token", token, "get", "secrets", "-n", "db")
        assert.notStrictEqual(secrets.code, 0)
        assert.include(
          secrets.stderr,
          `Error from server (Forbidden): secrets is forbidden: User "${userOf(operatorNamespace, operatorNames.serviceAccount)}" cannot list resource "secrets" in API group "" in the namespace "db"`
        )
      }).pipe(Effect.provide(FakeApiServer.layerTestWith({ tls: true, rbac: true })))
  )

  it.live("client-node from the admin kubeconfig over HTTPS with RBAC on: the sandbox admin is never denied", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const server = yield* FakeApiServer
      yield* api.create(Resources.backups, {
        apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
        kind: "Backup",
        metadata: { name: "b1", namespace: "db" },
        spec: { cluster: { name: "c" }, method: "xtrabackup", target: "prefer-standby", online: true }
      })
      assert.strictEqual((yield* api.list(Resources.backups, { namespace: "db" })).items.length, 1)
      // a watch streams over TLS as well
      const events = yield* api.watch(Resources.backups, { namespace: "db" }).pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual([...events][0]?.type, "ADDED")
      assert.isTrue(server.url.startsWith("https://"))
      assert.deepStrictEqual(yield* server.denials, [])
    }).pipe(Effect.provide(layerLiveOnFakeServerWith({ tls: true, rbac: true })))
  )

  it.live("HTTPS: the server's certificate verifies only against its own CA", () =>
    Effect.gen(function* () {
      const server = yield* FakeApiServer
      assert.isString(server.caCertificate)
      const untrusted = yield* Effect.promise(() =>
        fetch(`${server.url}/version`).then(
          () => "connected",
          (error: Error) => String((error.cause as Error | undefined)?.message ?? error.message)
        )
      )
      assert.match(untrusted, /certificate/i)
      assert.strictEqual((yield* send("GET", "/version")).status, 200)
    }).pipe(Effect.provide(FakeApiServer.layerTestWith({ tls: true })))
  )

  it.live(
    "in-cluster configuration: token, ca.crt and KUBERNETES_SERVICE_HOST/PORT; the operator's role as enforced",
    () =>
      Effect.gen(function* () {
        const server = yield* FakeApiServer
        const fake = yield* FakeCluster
        const dir = yield* tempDir
        yield* fake.create(refs.serviceAccounts(operatorNamespace), {
          metadata: { name: operatorNames.serviceAccount }
        })
        for (const object of rbacObjects) {
          const plural = `${(object.kind ?? "").toLowerCase()}s`
          yield* fake.create({ group: rbac, version: "v1", plural, namespace: object.metadata.namespace }, object)
        }
        yield* server.writeServiceAccountFiles(
          join(dir, "var", "run", "secrets", "kubernetes.io", "serviceaccount"),
          operatorNamespace,
          operatorNames.serviceAccount
        )
        const inCluster = { KUBERNETES_SERVICE_HOST: server.host, KUBERNETES_SERVICE_PORT: String(server.port) }
        // client-node's loadFromCluster reads the address from process.env itself, as it does in a Pod
        yield* Effect.acquireRelease(
          Effect.sync(() => Object.assign(process.env, inCluster)),
          () =>
            Effect.sync(() => {
              delete process.env.KUBERNETES_SERVICE_HOST
              delete process.env.KUBERNETES_SERVICE_PORT
            })
        )
        const kc = yield* loadKubeConfig({ env: inCluster, root: dir })
        const api = yield* Effect.provide(
          Effect.gen(function* () {
            return yield* KubeApi
          }),
          KubeApi.layerKubeConfig(kc)
        )
        // what the ClusterRole grants works in any namespace…
        yield* api.list(Resources.backups, { namespace: "db" })
        yield* api.list(Resources.jobs, {})
        // …the Lease only in the operator's namespace, Secrets never as a list
        const lease = {
          apiVersion: "coordination.k8s.io/v1" as const,
          kind: "Lease" as const,
          metadata: { name: operatorNames.leaderElectionLease, namespace: operatorNamespace },
          spec: {}
        }
        yield* api.create(Resources.leases, lease)
        const elsewhere = yield* Effect.flip(
          api.create(Resources.leases, { ...lease, metadata: { ...lease.metadata, namespace: "db" } })
        )
        assert.strictEqual(elsewhere._tag, "Forbidden")
        assert.include(elsewhere.message, 'cannot create resource "leases" in API group "coordination.k8s.io"')
        const secrets = yield* Effect.flip(api.list(Resources.secrets, { namespace: "db" }))
        assert.strictEqual(secrets._tag, "Forbidden")
        // what the operator's requests used, in the role's terms: all of it granted (the two denials aside)
        const used = permissionsUsed(
          yield* server.allowed,
          serviceAccountUserName(operatorNamespace, operatorNames.serviceAccount)
        )
        const granted = permissionsOf([...operatorRules, ...leaderElectionRules])
        assert.deepStrictEqual(
          [...used].filter((key) => !granted.has(key)),
          []
        )
        assert.isTrue(used.has("list mysql.cloudnative-mysql.io/backups"))
        const denied = yield* server.denials
        assert.deepStrictEqual(
          denied.map((denial) => `${denial.verb} ${denial.resource} ${denial.namespace}`),
          ["create leases db", "list secrets db"]
        )
      }).pipe(Effect.provide(FakeApiServer.layerTestWith({ tls: true, rbac: true })))
  )
})

describe("request attributes (the API server's RequestInfo)", () => {
  const of = (method: string, path: string) => requestAttributes(method, new URL(path, "http://127.0.0.1"))

  it("discovery and group/version paths are non-resource requests; a resource path is a resource request", () => {
    for (const path of ["/api", "/api/v1", "/apis", "/apis/batch", "/apis/batch/v1", "/openapi/v3", "/version"]) {
      assert.deepStrictEqual(of("GET", path), { resourceRequest: false, verb: "get", path }, path)
    }
    assert.include(of("GET", "/apis/batch/v1/jobs"), { resourceRequest: true, verb: "list", apiGroup: "batch" })
  })

  it("namespaces, subresources, and names from a watch's fieldSelector", () => {
    assert.include(of("GET", "/api/v1/namespaces/db"), { resource: "namespaces", name: "db", namespace: "db" })
    assert.include(of("GET", "/api/v1/namespaces/db/pods/p/log"), {
      verb: "get",
      resource: "pods",
      subresource: "log",
      name: "p",
      namespace: "db"
    })
    assert.include(of("GET", "/api/v1/namespaces/db/pods?watch=1&fieldSelector=metadata.name%3Dp"), {
      verb: "watch",
      name: "p"
    })
    assert.include(of("GET", "/api/v1/namespaces/db/pods?fieldSelector=metadata.name%21%3Dp"), {
      verb: "list",
      name: ""
    })
  })
})
