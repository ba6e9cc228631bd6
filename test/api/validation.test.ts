import { readFileSync } from "node:fs"
import { join } from "node:path"
import { run } from "@bufbuild/cel"
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { parse } from "yaml"
import { ClusterBackupSpec, RecoverySpec, RecoveryTarget } from "../../src/api/cluster.ts"
import { S3Credentials, ServerSideEncryption } from "../../src/api/objectStore.ts"

// Evaluates the CRD's CEL rules with a real CEL implementation, so the rules the API server enforces and the
// predicates our code enforces are proven to agree on the same cases.

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
const toCel = (value: Json): unknown =>
  Array.isArray(value)
    ? value.map(toCel)
    : typeof value === "object" && value !== null
      ? new Map(Object.entries(value).map(([k, v]) => [k, toCel(v)]))
      : typeof value === "number" && Number.isInteger(value)
        ? BigInt(value)
        : value

const crdSchema = (file: string) =>
  parse(readFileSync(join(import.meta.dirname, "..", "..", "deploy", "crds", file), "utf8")).spec.versions[0].schema
    .openAPIV3Schema

const celAccepts = (rules: ReadonlyArray<{ rule: string }>, value: Json): boolean =>
  rules.every(({ rule }) => run(rule, { self: toCel(value) } as never) === true)

const codeAccepts = (schema: Schema.Top, value: Json): boolean =>
  Schema.decodeUnknownExit(schema as Schema.Decoder<unknown>)(value)._tag === "Success"

const cluster = crdSchema("clusters.yaml").properties.spec.properties
const objectStore = cluster.backup.properties.objectStore.properties
const recovery = cluster.bootstrap.properties.recovery

const secret = { name: "s3", key: "k" }
const store = { bucket: "backups", credentials: { inheritFromIAMRole: true } }
const cases: ReadonlyArray<{
  name: string
  schema: Schema.Top
  rules: ReadonlyArray<{ rule: string }>
  values: ReadonlyArray<Json>
}> = [
  {
    name: "credentials: static keys XOR inheritFromIAMRole",
    schema: S3Credentials,
    rules: objectStore.credentials["x-kubernetes-validations"],
    values: [
      { accessKeyId: secret, secretAccessKey: secret },
      { accessKeyId: secret, secretAccessKey: secret, sessionToken: secret },
      { inheritFromIAMRole: true },
      { inheritFromIAMRole: false, accessKeyId: secret, secretAccessKey: secret },
      { inheritFromIAMRole: false },
      {},
      { accessKeyId: secret },
      { inheritFromIAMRole: true, accessKeyId: secret, secretAccessKey: secret },
      { inheritFromIAMRole: true, sessionToken: secret }
    ]
  },
  {
    name: "server-side encryption: key material matches the algorithm",
    schema: ServerSideEncryption,
    rules: objectStore.serverSideEncryption["x-kubernetes-validations"],
    values: [
      { algorithm: "AES256" },
      { algorithm: "aws:kms" },
      { algorithm: "aws:kms", kmsKeyId: "alias/backups" },
      { algorithm: "customer", customerKey: secret },
      { algorithm: "customer" },
      { algorithm: "customer", customerKey: secret, kmsKeyId: "k" },
      { algorithm: "AES256", kmsKeyId: "k" },
      { algorithm: "aws:kms", customerKey: secret }
    ]
  },
  {
    name: "recovery: exactly one of backup and source; backupID only with source",
    schema: RecoverySpec,
    rules: recovery["x-kubernetes-validations"],
    values: [
      { backup: { name: "b" } },
      { source: "prod" },
      { source: "prod", backupID: "" },
      { source: "prod", backupID: "20261123T204644Z" },
      { backup: { name: "b" }, backupID: "" },
      { backup: { name: "b" }, backupID: "20261123T204644Z" },
      { backup: { name: "b" }, source: "prod" },
      {}
    ]
  },
  {
    name: "backup: retentionDryRun only with retentionPolicy",
    schema: ClusterBackupSpec,
    rules: cluster.backup["x-kubernetes-validations"],
    values: [
      { objectStore: store },
      { objectStore: store, retentionPolicy: "30d" },
      { objectStore: store, retentionPolicy: "30d", retentionDryRun: true },
      { objectStore: store, retentionPolicy: "30d", retentionDryRun: false },
      { objectStore: store, retentionDryRun: true },
      { objectStore: store, retentionDryRun: false }
    ]
  },
  {
    name: "recovery target: exactly one of targetGTID and targetTime",
    schema: RecoveryTarget,
    rules: recovery.properties.recoveryTarget["x-kubernetes-validations"],
    values: [
      { targetGTID: "0-1-9" },
      { targetTime: "2026-11-23T10:00:00Z" },
      {},
      { targetGTID: "0-1-9", targetTime: "2026-11-23T10:00:00Z" }
    ]
  }
]

describe("CEL rules in the CRDs agree with the Schema checks", () => {
  for (const { name, schema, rules, values } of cases) {
    it(name, () => {
      expect(rules.length).toBeGreaterThan(0)
      const verdicts = values.map((value) => [celAccepts(rules, value), codeAccepts(schema, value)])
      for (const [i, [cel, code]] of verdicts.entries()) {
        expect(code, `case ${JSON.stringify(values[i])}: CEL says ${cel}`).toBe(cel)
      }
      // the cases exercise both outcomes, so a rule that accepts (or rejects) everything fails this test
      expect(new Set(verdicts.map(([cel]) => cel))).toEqual(new Set([true, false]))
    })
  }
})
