/**
 * Every object of the release YAML checked against the Kubernetes OpenAPI schemas of its kind (types, formats,
 * required fields), with the validators `kubernetes-models` generates from the upstream definitions: the one schema
 * check possible here, since no real API server runs and kustomize validates nothing. (Unknown fields are not
 * flagged by these validators; the structure tests in install.test.ts cover the fields that matter.)
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition"
import { Deployment } from "kubernetes-models/apps/v1/Deployment"
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole"
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding"
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role"
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding"
import { Namespace } from "kubernetes-models/v1/Namespace"
import { Service } from "kubernetes-models/v1/Service"
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount"
import { parseAllDocuments } from "yaml"

interface Validatable {
  validate(): void
}

// biome-ignore lint/suspicious/noExplicitAny: each model's constructor takes its own kind's JSON
const models: Record<string, new (data: any) => Validatable> = {
  "v1/Namespace": Namespace,
  "v1/ServiceAccount": ServiceAccount,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "apiextensions.k8s.io/v1/CustomResourceDefinition": CustomResourceDefinition,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding
}

const release = parseAllDocuments(readFileSync(join(import.meta.dirname, "..", "..", "dist", "install.yaml"), "utf8"))
  .map((document) => document.toJS() as { apiVersion: string; kind: string; metadata: { name: string } })
  .filter((object) => object !== null)

describe("dist/install.yaml against the Kubernetes schemas", () => {
  for (const object of release) {
    it(`${object.kind} ${object.metadata.name}`, () => {
      const Model = models[`${object.apiVersion}/${object.kind}`]
      assert.isDefined(Model, `no schema for ${object.apiVersion} ${object.kind}`)
      if (Model !== undefined) new Model(object).validate()
    })
  }

  it("the validators do reject a wrongly typed field (the check can fail)", () => {
    const deployment = release.find((object) => object.kind === "Deployment")
    const broken = structuredClone(deployment) as unknown as {
      spec: { template: { spec: { containers: Array<{ ports: Array<{ containerPort: unknown }> }> } } }
    }
    const port = broken.spec.template.spec.containers[0]?.ports[0]
    if (port !== undefined) port.containerPort = "8080"
    assert.throws(() => new Deployment(broken as never).validate(), /containerPort must be integer/)
  })
})
