import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { parse } from "yaml"
import { renderCrdFiles } from "../../src/api/crdFiles.ts"

const crdDir = join(import.meta.dirname, "..", "..", "deploy", "crds")

type Node = { readonly [key: string]: unknown }
const isNode = (value: unknown): value is Node => typeof value === "object" && value !== null && !Array.isArray(value)

/** Every schema node of a CRD's openAPIV3Schema with its path. */
const walk = function* (node: unknown, path: string): Generator<readonly [string, Node]> {
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) yield* walk(item, `${path}[${i}]`)
    return
  }
  if (!isNode(node)) return
  yield [path, node]
  for (const [key, value] of Object.entries(node)) yield* walk(value, `${path}.${key}`)
}

describe("generated CRDs", () => {
  const files = renderCrdFiles()

  it("the committed deploy/crds files are exactly what `npm run generate` writes", () => {
    for (const [name, text] of files) {
      expect(readFileSync(join(crdDir, name), "utf8"), `deploy/crds/${name} is stale: run npm run generate`).toBe(text)
    }
  })

  const crds = files.filter(([name]) => name !== "kustomization.yaml").map(([, text]) => parse(text))

  it("defines Backup, Cluster and ScheduledBackup in mysql.cloudnative-mysql.io/v1alpha1", () => {
    expect(crds.map((crd) => crd.spec.names.kind).sort()).toEqual(["Backup", "Cluster", "ScheduledBackup"])
    for (const crd of crds) {
      expect(crd.spec.group).toBe("mysql.cloudnative-mysql.io")
      expect(crd.spec.scope).toBe("Namespaced")
      expect(crd.spec.versions.map((v: Node) => v.name)).toEqual(["v1alpha1"])
      expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.mysql.cloudnative-mysql.io`)
    }
  })

  it("each CRD has a status subresource, printer columns, short names and the cloudnative-mysql category", () => {
    for (const crd of crds) {
      const version = crd.spec.versions[0]
      expect(version.subresources).toEqual({ status: {} })
      expect(version.additionalPrinterColumns.length).toBeGreaterThanOrEqual(4)
      expect(crd.spec.names.shortNames.length).toBeGreaterThan(0)
      expect(crd.spec.names.categories).toEqual(["cloudnative-mysql"])
    }
  })

  it("schemas are structural: no $ref, no additionalProperties beside properties, every node typed", () => {
    for (const crd of crds) {
      for (const [path, node] of walk(crd.spec.versions[0].schema.openAPIV3Schema, crd.spec.names.kind)) {
        if (path.endsWith(".x-kubernetes-validations") || /\.x-kubernetes-validations\[\d+\]$/u.test(path)) continue
        if (path.endsWith(".properties")) continue
        expect(node, path).not.toHaveProperty("$ref")
        expect(node, path).not.toHaveProperty("anyOf")
        expect(node, path).not.toHaveProperty("oneOf")
        expect(node, path).not.toHaveProperty("allOf")
        if ("properties" in node) expect(node, path).not.toHaveProperty("additionalProperties")
        expect(typeof node.type, `${path} has no type`).toBe("string")
      }
    }
  })

  it("printer columns point at fields the schema defines", () => {
    for (const crd of crds) {
      const version = crd.spec.versions[0]
      for (const column of version.additionalPrinterColumns) {
        let node: Node = version.schema.openAPIV3Schema
        for (const segment of (column.jsonPath as string).slice(1).split(".")) {
          if (segment === "metadata" || (node.type === "object" && node.properties === undefined)) break
          node = (node.properties as Node)[segment] as Node
          expect(node, `${crd.spec.names.kind} column ${column.name}: ${column.jsonPath}`).toBeDefined()
        }
      }
    }
  })

  it("the Backup spec is immutable and Cluster recovery requires exactly one of source and backup", () => {
    const byKind = new Map(crds.map((crd) => [crd.spec.names.kind, crd.spec.versions[0].schema.openAPIV3Schema]))
    expect(byKind.get("Backup").properties.spec["x-kubernetes-validations"]).toContainEqual({
      rule: "self == oldSelf",
      message: "Backup spec is immutable; create a new Backup to take another backup"
    })
    const recovery = byKind.get("Cluster").properties.spec.properties.bootstrap.properties.recovery
    expect(recovery["x-kubernetes-validations"].map((v: Node) => v.rule)).toContain(
      "has(self.backup) != has(self.source)"
    )
  })

  it("kustomization.yaml lists every CRD file", () => {
    const kustomization = parse(readFileSync(join(crdDir, "kustomization.yaml"), "utf8"))
    expect(kustomization.resources).toEqual(["backups.yaml", "clusters.yaml", "scheduledbackups.yaml"])
  })
})
