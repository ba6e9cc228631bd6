/**
 * A rule missing from the installed role, on the sandbox with the operator as a Pod: the install is
 * `kubectl apply -k` of an overlay of `deploy/default` whose only change is a JSON patch taking `create` on
 * ConfigMaps off the ClusterRole (the Cluster reconciler needs it before any database runs, so the case stays
 * cheap). A Cluster then cannot be bootstrapped: the operator's log names the refused request, a `Forbidden`
 * Warning Event on the Cluster says what the role lacks, and the Pod keeps running — Ready, never restarted — and
 * reconciles what its role does allow (a Backup of a missing Cluster reaches `ClusterNotFound`). Then the harness's
 * `restart` of the Pod: deleted, and the Deployment's replacement takes the Lease.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { afterAll, assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import { parse } from "yaml"
import { ApiVersion } from "../../src/api/common.ts"
import { operatorNames, operatorNamespace } from "../../src/api/install.ts"
import { serviceAccountUserName } from "../../src/sandbox/rbac.ts"
import { clusterManifest, e2eLayer, type Json, OperatorSandbox } from "../e2e/sandbox/harness.ts"

const repo = join(import.meta.dirname, "..", "..")
const operatorUser = serviceAccountUserName(operatorNamespace, operatorNames.serviceAccount)

/** Where `create` on ConfigMaps sits in the shipped ClusterRole (a JSON patch addresses it by index). */
const configMapCreate = (() => {
  const role = parse(readFileSync(join(repo, "deploy", "rbac", "role.yaml"), "utf8")) as Json
  const rule = (role.rules as ReadonlyArray<Json>).findIndex((r) => r.resources.includes("configmaps"))
  const verb = (role.rules[rule].verbs as ReadonlyArray<string>).indexOf("create")
  assert.isAtLeast(rule, 0, "the shipped role has a ConfigMap rule")
  assert.isAtLeast(verb, 0, "the shipped role lets the operator create ConfigMaps")
  return `/rules/${rule}/verbs/${verb}`
})()

/** The overlay: `deploy/default` (kustomize takes only relative bases) and the patch; `test` guards the index. */
const overlay = mkdtempSync(join(tmpdir(), "cnm-overlay-"))
writeFileSync(
  join(overlay, "kustomization.yaml"),
  JSON.stringify({
    apiVersion: "kustomize.config.k8s.io/v1beta1",
    kind: "Kustomization",
    resources: [relative(overlay, join(repo, "deploy", "default"))],
    patches: [
      {
        target: {
          group: "rbac.authorization.k8s.io",
          version: "v1",
          kind: "ClusterRole",
          name: operatorNames.clusterRole
        },
        patch: JSON.stringify([
          { op: "test", path: configMapCreate, value: "create" },
          { op: "remove", path: configMapCreate }
        ])
      }
    ]
  })
)
afterAll(() => rmSync(overlay, { recursive: true, force: true }))

describe("the operator Pod installed with a rule missing from its role (sandbox, RBAC on)", () => {
  e2eLayer({ operator: "pod", kustomization: overlay, sandbox: { objectStore: "none" } })((it) => {
    it.effect(
      "Forbidden in its log and a Warning Event on the Cluster, no crash loop, the rest still reconciled",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          const role = yield* e2e.kubectlOk(["get", "clusterrole", operatorNames.clusterRole, "-o", "json"])
          const configMapVerbs = (JSON.parse(role).rules as ReadonlyArray<Json>).find((rule) =>
            rule.resources.includes("configmaps")
          ).verbs
          assert.notInclude(configMapVerbs, "create", "the overlay took the rule off")

          yield* e2e.apply(clusterManifest("nocm", { instances: 1 }))
          const warning = yield* e2e.waitFor(
            "a Forbidden Event on Cluster nocm",
            Effect.map(e2e.list("events"), (events) =>
              events.find((event: Json) => event.reason === "Forbidden" && event.involvedObject?.name === "nocm")
            ),
            { describe: [["clusters", "nocm"]] }
          )
          assert.strictEqual(warning.type, "Warning")
          assert.include(warning.message, "the operator's role does not allow")
          assert.include(warning.message, 'cannot create resource "configmaps"')

          const log = yield* e2e.controller.logTail(2_000)
          const refused = log.split("\n").filter((line) => line.includes("Forbidden") && line.includes("configmaps"))
          assert.isNotEmpty(refused, `the log names the refused request:\n${log}`)
          assert.isTrue(
            refused.some((line) => line.includes("reconcile failed") && line.includes("create")),
            refused.join("\n")
          )

          const denied = (yield* e2e.denials).filter((denial) => denial.user === operatorUser)
          assert.isNotEmpty(denied)
          assert.deepStrictEqual(
            [...new Set(denied.map((denial) => `${denial.verb} ${denial.resource}`))],
            ["create configmaps"]
          )

          // retried with back-off inside the process, not a crash: still Ready, never restarted, still reconciling
          yield* e2e.apply({
            apiVersion: ApiVersion,
            kind: "Backup",
            metadata: { name: "orphan" },
            spec: { cluster: { name: "missing" } }
          })
          yield* e2e.waitFor(
            "Backup orphan: ClusterNotFound",
            Effect.map(e2e.get("backups", "orphan"), (backup) =>
              JSON.stringify(backup?.status ?? {}).includes("ClusterNotFound") ? backup : undefined
            ),
            { describe: [["backups", "orphan"]] }
          )
          const pods = JSON.parse(yield* e2e.kubectlOk(["get", "pods", "-n", operatorNamespace, "-o", "json"]))
            .items as ReadonlyArray<Json>
          assert.strictEqual(pods.length, 1)
          const pod = pods[0]
          assert.deepStrictEqual(
            pod.status.containerStatuses.map((status: Json) => [status.name, status.restartCount, status.ready]),
            [["manager", 0, true]]
          )
          assert.strictEqual(
            pod.status.conditions.find((condition: Json) => condition.type === "Ready")?.status,
            "True"
          )
        }),
      180_000
    )

    it.effect(
      "restart: the Pod deleted, the Deployment's replacement leads with its caches synced",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          const before = (yield* e2e.controller.logTail(1)).split("\n")[0]
          yield* e2e.controller.restart
          const after = yield* e2e.controller.logTail(10_000)
          assert.notStrictEqual(after.split("\n")[0], before, "another Pod")
          assert.include(after, "caches synced")
          const lease = yield* e2e.kubectlOk([
            "get",
            "lease",
            operatorNames.leaderElectionLease,
            "-n",
            operatorNamespace,
            "-o",
            "jsonpath={.spec.holderIdentity}"
          ])
          assert.isTrue(after.startsWith(`(Pod ${lease.split("_")[0]}`), `${lease} leads: ${after.split("\n")[0]}`)
        }),
      180_000
    )
  })
})
