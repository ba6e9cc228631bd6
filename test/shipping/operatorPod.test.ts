/**
 * The operator installed as a user installs it, running as a Pod on the sandbox with RBAC on: `kubectl apply` of
 * the release file (`dist/install.yaml`, its CRDs included: the fake API server stores them because they are
 * the ones it serves from `deploy/crds`), the sandbox's Deployment controller makes the Pod, the node runs the operator image with the Deployment's security context, its
 * in-cluster configuration (a real ServiceAccount token, `ca.crt`, `KUBERNETES_SERVICE_HOST`/`PORT` on the API
 * server's HTTPS listener) and probes. The Pod becomes Ready, takes the Lease, reconciles a Backup whose Cluster
 * does not exist to its status, and the API server denied nothing its ServiceAccount asked for.
 */
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { operatorNames, operatorNamespace } from "../../src/api/install.ts"
import { FakeApiServer } from "../../src/sandbox/FakeApiServer.ts"
import { serviceAccountUserName } from "../../src/sandbox/rbac.ts"
import { condition, eventually, getJson, type Json, kubectl, nodeTestSandbox } from "../sandbox/node/support.ts"

const repo = join(import.meta.dirname, "..", "..")
const operatorUser = serviceAccountUserName(operatorNamespace, operatorNames.serviceAccount)

const operatorPod = Effect.gen(function* () {
  const run = yield* kubectl(["get", "pods", "-n", operatorNamespace, "-o", "json"])
  const pods: ReadonlyArray<Json> = run.code === 0 ? JSON.parse(run.stdout).items : []
  return pods.find((pod) => pod.metadata?.labels?.["app.kubernetes.io/name"] === "cloudnative-mysql")
})

describe("the operator as a Pod of its Deployment (sandbox, RBAC on)", () => {
  it.live(
    "installs from dist/install.yaml, becomes Ready, leads, reconciles a Backup, and is denied nothing",
    () =>
      Effect.gen(function* () {
        const server = yield* FakeApiServer
        const applied = yield* kubectl(["apply", "-f", join(repo, "dist", "install.yaml")])
        assert.strictEqual(applied.code, 0, applied.stderr)
        assert.include(
          applied.stdout,
          "customresourcedefinition.apiextensions.k8s.io/clusters.mysql.cloudnative-mysql.io created"
        )
        assert.include(applied.stdout, `deployment.apps/${operatorNames.deployment} created`)

        const pod = yield* eventually(
          "the operator Pod Ready",
          Effect.map(operatorPod, (found) => (condition(found, "Ready")?.status === "True" ? found : undefined)),
          "60 seconds"
        )
        const name: string = pod.metadata.name
        assert.strictEqual(pod.spec.serviceAccountName, operatorNames.serviceAccount)
        assert.strictEqual(pod.spec.securityContext.runAsUser, 65532)

        const lease = yield* eventually(
          "the Lease held by the Pod",
          Effect.map(getJson("lease", operatorNames.leaderElectionLease, operatorNamespace), (found) =>
            typeof found?.spec?.holderIdentity === "string" && found.spec.holderIdentity.startsWith(name)
              ? found
              : undefined
          )
        )
        assert.isAbove(lease.spec.leaseDurationSeconds, 0)

        const backup = yield* kubectl(
          ["apply", "-n", "default", "-f", "-"],
          JSON.stringify({
            apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
            kind: "Backup",
            metadata: { name: "orphan" },
            spec: { cluster: { name: "missing" } }
          })
        )
        assert.strictEqual(backup.code, 0, backup.stderr)
        const reconciled = yield* eventually(
          "the Backup's status",
          Effect.map(getJson("backup", "orphan", "default"), (found) =>
            JSON.stringify(found?.status ?? {}).includes("ClusterNotFound") ? found : undefined
          )
        )
        assert.include(JSON.stringify(reconciled.status.conditions), "ClusterNotFound")

        const denied = (yield* server.denials).filter((denial) => denial.user === operatorUser)
        assert.deepStrictEqual(
          denied.map((denial) => denial.message),
          []
        )
        // it really ran as its ServiceAccount: the API server saw that identity list, watch and write
        const asked = (yield* server.allowed).filter((entry) => entry.user === operatorUser)
        assert.isTrue(asked.some((entry) => entry.verb === "watch" && entry.resource === "backups"))
        assert.isTrue(asked.some((entry) => entry.verb === "patch" && entry.subresource === "status"))
        // the first acquisition creates the Lease (or takes it over with an update); renewals come later
        assert.isTrue(
          asked.some((entry) => (entry.verb === "create" || entry.verb === "update") && entry.resource === "leases")
        )
        const logs = yield* kubectl(["logs", "-n", operatorNamespace, name])
        assert.include(logs.stdout, "caches synced")
      }).pipe(Effect.provide(nodeTestSandbox({ rbac: true }))),
    120_000
  )
})
