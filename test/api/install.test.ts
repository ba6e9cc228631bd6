/**
 * The installation manifests: the committed files are what `npm run generate` writes, `kubectl kustomize` (this
 * machine's kubectl) builds every base and renders `deploy/default` into exactly the objects of the release YAML,
 * and the objects keep the least-privilege and restricted-security promises of docs/operations.md.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { parseAllDocuments } from "yaml"
import { renderDeployFiles } from "../../src/api/deployFiles.ts"
import { instanceImageRepository, operatorImage, operatorImageRepository } from "../../src/api/images.ts"
import { operatorNames, operatorNamespace, operatorPorts } from "../../src/api/install.ts"
import { leaderElectionRules, operatorRules, permissionsOf } from "../../src/api/rbac.ts"

const root = join(import.meta.dirname, "..", "..")
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }

// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary manifest JSON
type Manifest = any

const documents = (text: string): Array<Manifest> =>
  parseAllDocuments(text)
    .map((document) => document.toJS())
    .filter((object) => object !== null)

const kustomize = (dir: string): Array<Manifest> =>
  documents(execFileSync("kubectl", ["kustomize", join(root, dir)], { encoding: "utf8" }))

const keyOf = (object: Manifest): string =>
  `${object.apiVersion}/${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`

const release = documents(readFileSync(join(root, "dist", "install.yaml"), "utf8"))
const find = (kind: string): Manifest => release.find((object) => object.kind === kind)

describe("generated installation files", () => {
  it("the committed deploy/rbac, deploy/manager, deploy/default and dist/install.yaml are what npm run generate writes", () => {
    for (const [path, text] of renderDeployFiles(version)) {
      assert.strictEqual(readFileSync(join(root, path), "utf8"), text, `${path} is stale: run npm run generate`)
    }
  })

  it("kubectl kustomize builds every base", () => {
    for (const dir of ["deploy/crds", "deploy/rbac", "deploy/manager", "deploy/samples"]) {
      assert.isAbove(kustomize(dir).length, 0, dir)
    }
    assert.deepStrictEqual(
      kustomize("deploy/samples").map((object) => object.kind),
      ["Backup", "Cluster", "Cluster"]
    )
  })

  it("kubectl kustomize deploy/default renders exactly the objects of dist/install.yaml", () => {
    const built = new Map(kustomize("deploy/default").map((object) => [keyOf(object), object]))
    const released = new Map(release.map((object) => [keyOf(object), object]))
    assert.deepStrictEqual([...built.keys()].sort(), [...released.keys()].sort())
    for (const [key, object] of released) assert.deepStrictEqual(built.get(key), object, key)
  })

  it("every namespaced object is in cloudnative-mysql-system, and the namespace comes first", () => {
    assert.strictEqual(release[0].kind, "Namespace")
    assert.strictEqual(release[0].metadata.name, operatorNamespace)
    const clusterScoped = new Set(["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"])
    for (const object of release) {
      if (!clusterScoped.has(object.kind))
        assert.strictEqual(object.metadata.namespace, operatorNamespace, keyOf(object))
    }
  })
})

describe("RBAC: least privilege", () => {
  const rules = [...operatorRules, ...leaderElectionRules]

  it("no wildcard anywhere: verbs, groups, resources", () => {
    for (const rule of rules) {
      for (const value of [...rule.verbs, ...rule.apiGroups, ...rule.resources]) assert.notInclude(value, "*")
    }
  })

  it("Secrets: get and create only (never list or watch every Secret)", () => {
    const secretVerbs = rules.filter((rule) => rule.resources.includes("secrets")).flatMap((rule) => rule.verbs)
    assert.deepStrictEqual([...secretVerbs].sort(), ["create", "get"])
  })

  it("RBAC objects and ServiceAccounts: create only (the per-Backup progress identity); no Nodes or Namespaces", () => {
    const identity = rules.filter(
      (rule) => rule.apiGroups.includes("rbac.authorization.k8s.io") || rule.resources.includes("serviceaccounts")
    )
    assert.deepStrictEqual(
      identity.map((rule) => [rule.apiGroups, rule.resources, rule.verbs]),
      [
        [[""], ["serviceaccounts"], ["create"]],
        [["rbac.authorization.k8s.io"], ["roles", "rolebindings"], ["create"]]
      ]
    )
    for (const rule of rules) {
      for (const resource of ["nodes", "namespaces", "clusterroles", "clusterrolebindings"])
        assert.notInclude(rule.resources, resource)
    }
  })

  it("the rendered roles carry exactly the rules of src/api/rbac.ts, bound to the operator's ServiceAccount", () => {
    const strip = ({ why: _why, ...rule }: (typeof rules)[number]) => rule
    assert.deepStrictEqual(find("ClusterRole").rules, operatorRules.map(strip))
    assert.deepStrictEqual(find("Role").rules, leaderElectionRules.map(strip))
    for (const kind of ["ClusterRoleBinding", "RoleBinding"]) {
      assert.deepStrictEqual(find(kind).subjects, [
        { kind: "ServiceAccount", name: operatorNames.serviceAccount, namespace: operatorNamespace }
      ])
    }
    assert.strictEqual(find("RoleBinding").roleRef.name, find("Role").metadata.name)
    assert.strictEqual(find("ClusterRoleBinding").roleRef.name, find("ClusterRole").metadata.name)
  })
})

describe("the controller-manager Deployment", () => {
  const deployment = find("Deployment")
  const pod = deployment.spec.template.spec
  const container = pod.containers[0]

  it("runs this release's operator image under the operator's ServiceAccount", () => {
    assert.strictEqual(container.image, operatorImage(version))
    assert.isTrue(container.image.startsWith(`${operatorImageRepository}:`))
    assert.isFalse(container.image.startsWith(`${instanceImageRepository}:`))
    assert.strictEqual(pod.serviceAccountName, operatorNames.serviceAccount)
    assert.strictEqual(find("ServiceAccount").metadata.name, operatorNames.serviceAccount)
  })

  it("meets the restricted Pod Security Standard", () => {
    assert.isTrue(pod.securityContext.runAsNonRoot)
    assert.notStrictEqual(pod.securityContext.runAsUser, 0)
    assert.strictEqual(pod.securityContext.seccompProfile.type, "RuntimeDefault")
    assert.isFalse(container.securityContext.allowPrivilegeEscalation)
    assert.isTrue(container.securityContext.readOnlyRootFilesystem)
    assert.deepStrictEqual(container.securityContext.capabilities.drop, ["ALL"])
    assert.isUndefined(container.securityContext.capabilities.add)
    assert.isUndefined(pod.hostNetwork)
    assert.strictEqual(release[0].metadata.labels["pod-security.kubernetes.io/enforce"], "restricted")
  })

  it("leader election on, probes on the probe port, resources set, metrics Service on the metrics port", () => {
    assert.deepStrictEqual(container.args.slice(0, 2), ["controller", "--leader-elect"])
    const ports = Object.fromEntries(container.ports.map((port: Manifest) => [port.name, port.containerPort]))
    assert.deepStrictEqual(ports, { metrics: operatorPorts.metrics, probes: operatorPorts.probes })
    assert.strictEqual(container.livenessProbe.httpGet.path, "/healthz")
    assert.strictEqual(container.readinessProbe.httpGet.path, "/readyz")
    assert.strictEqual(container.livenessProbe.httpGet.port, "probes")
    assert.isDefined(container.resources.requests.cpu)
    assert.isDefined(container.resources.requests.memory)
    assert.isDefined(container.resources.limits.memory)
    const service = find("Service")
    assert.strictEqual(service.spec.ports[0].targetPort, "metrics")
    assert.deepStrictEqual(service.spec.selector, deployment.spec.selector.matchLabels)
    assert.deepStrictEqual(deployment.spec.template.metadata.labels, deployment.spec.selector.matchLabels)
  })
})

describe("permissions as comparable keys (for the role-vs-calls check)", () => {
  it("permissionsOf lists every verb × group × resource of the rules", () => {
    const granted = permissionsOf(operatorRules)
    assert.isTrue(granted.has("patch mysql.cloudnative-mysql.io/backups/status"))
    assert.isTrue(granted.has("create /events"))
    assert.isFalse(granted.has("list /secrets"))
    const size = operatorRules.reduce(
      (sum, rule) => sum + rule.apiGroups.length * rule.resources.length * rule.verbs.length,
      0
    )
    assert.strictEqual(granted.size, size, "no two rules grant the same permission")
  })
})
