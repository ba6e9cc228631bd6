/**
 * Turns `apiextensions.k8s.io/v1` CustomResourceDefinitions (the repo's generated `deploy/crds/*.yaml`)
 * into the `ServedKind`s the fake serves, so the CRD manifests themselves are what tests exercise.
 *
 * @since 0.1.0
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect, Schema } from "effect"
import { parseAllDocuments } from "yaml"
import type { PrinterColumn, ServedKind } from "./resources.ts"
import type { JsonObject } from "./StoredObject.ts"

const PrinterColumnSchema = Schema.Struct({
  name: Schema.String,
  type: Schema.String,
  jsonPath: Schema.String,
  description: Schema.optionalKey(Schema.String),
  format: Schema.optionalKey(Schema.String),
  priority: Schema.optionalKey(Schema.Int)
})

const Crd = Schema.Struct({
  apiVersion: Schema.Literal("apiextensions.k8s.io/v1"),
  kind: Schema.Literal("CustomResourceDefinition"),
  spec: Schema.Struct({
    group: Schema.String,
    scope: Schema.Literals(["Namespaced", "Cluster"]),
    names: Schema.Struct({
      kind: Schema.String,
      plural: Schema.String,
      singular: Schema.optionalKey(Schema.String),
      listKind: Schema.optionalKey(Schema.String),
      shortNames: Schema.optionalKey(Schema.Array(Schema.String)),
      categories: Schema.optionalKey(Schema.Array(Schema.String))
    }),
    versions: Schema.Array(
      Schema.Struct({
        name: Schema.String,
        served: Schema.Boolean,
        storage: Schema.Boolean,
        subresources: Schema.optionalKey(Schema.Struct({ status: Schema.optionalKey(Schema.Unknown) })),
        additionalPrinterColumns: Schema.optionalKey(Schema.Array(PrinterColumnSchema)),
        schema: Schema.Struct({ openAPIV3Schema: Schema.Record(Schema.String, Schema.Unknown) })
      })
    )
  })
})

/** Errors in a CRD document are bugs in the repo's manifests: they fail the layer as defects. */
const decodeCrd = Schema.decodeUnknownSync(Crd)

/** The served versions of one CRD object, as `ServedKind`s. */
export const crdTypes = (crd: unknown): ReadonlyArray<ServedKind> => {
  const { spec } = decodeCrd(crd)
  return spec.versions
    .filter((version) => version.served)
    .map(
      (version): ServedKind => ({
        group: spec.group,
        version: version.name,
        plural: spec.names.plural,
        singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
        kind: spec.names.kind,
        listKind: spec.names.listKind ?? `${spec.names.kind}List`,
        shortNames: spec.names.shortNames ?? [],
        categories: spec.names.categories ?? [],
        namespaced: spec.scope === "Namespaced",
        statusSubresource: version.subresources?.status !== undefined,
        custom: true,
        tracksGeneration: true,
        nameRule: "dns1123Subdomain",
        schema: version.schema.openAPIV3Schema as JsonObject,
        printerColumns: (version.additionalPrinterColumns ?? []) as ReadonlyArray<PrinterColumn>,
        fieldSelectors: []
      })
    )
}

/** Every CRD document in the given YAML files (other kinds, e.g. kustomization files, are skipped). */
export const loadCrdFiles = (files: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<unknown>> =>
  Effect.sync(() =>
    files.flatMap((file) =>
      parseAllDocuments(readFileSync(file, "utf8"))
        .map((document) => document.toJS() as unknown)
        .filter(
          (value) =>
            typeof value === "object" &&
            value !== null &&
            (value as { kind?: unknown }).kind === "CustomResourceDefinition"
        )
    )
  )

/** The repo's generated CRDs: `deploy/crds/*.yaml`. */
export const defaultCrdFiles: Effect.Effect<ReadonlyArray<string>> = Effect.sync(() => {
  const directory = fileURLToPath(new URL("../../deploy/crds/", import.meta.url))
  return readdirSync(directory)
    .filter((file) => file.endsWith(".yaml") && !file.startsWith("kustomization"))
    .sort()
    .map((file) => `${directory}${file}`)
})
