import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import { ObjectStoreConnectionConfig } from "../../src/objectstore/connection.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { s3rver } from "../../src/sandbox/s3rver.ts"

const dirs: Array<string> = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

const secretsDir = (files: Record<string, string>) => {
  const dir = mkdtempSync(join(tmpdir(), "os-secrets-"))
  dirs.push(dir)
  for (const [name, value] of Object.entries(files)) writeFileSync(join(dir, name), value)
  return dir
}

const load = (env: Record<string, string>) =>
  ObjectStoreConnectionConfig.pipe(
    Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))),
    Effect.provide(NodeServices.layer)
  )

const staticSpec = {
  bucket: "backups",
  path: "prod",
  endpoint: "https://s3.example.test",
  credentials: {
    accessKeyId: { name: "s3", key: "id" },
    secretAccessKey: { name: "s3", key: "secret" },
    sessionToken: { name: "s3", key: "token" }
  },
  caBundle: { name: "ca", key: "ca.crt" },
  serverSideEncryption: { algorithm: "customer", customerKey: { name: "sse", key: "key" } }
}

describe("ObjectStoreConnectionConfig", () => {
  it.effect("reads the spec from OBJECT_STORE_SPEC and each referenced secret from its file (trimmed, redacted)", () =>
    Effect.gen(function* () {
      const dir = secretsDir({
        accessKeyId: "AKIDEXAMPLE\n",
        secretAccessKey: "s3cr3t-value\n",
        sessionToken: "tok\n",
        caBundle: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        customerKey: "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=\n"
      })
      const c = yield* load({
        OBJECT_STORE_SPEC: JSON.stringify(staticSpec),
        OBJECT_STORE_SECRETS_DIR: dir,
        OBJECT_STORE_MAX_SOCKETS: "8"
      })
      assert.strictEqual(c.spec.bucket, "backups")
      assert.strictEqual(c.spec.serverSideEncryption?.algorithm, "customer")
      assert.strictEqual(Redacted.value(c.credentials?.accessKeyId ?? Redacted.make("")), "AKIDEXAMPLE")
      assert.strictEqual(Redacted.value(c.credentials?.secretAccessKey ?? Redacted.make("")), "s3cr3t-value")
      assert.strictEqual(Redacted.value(c.credentials?.sessionToken ?? Redacted.make("")), "tok")
      assert.match(c.caBundle ?? "", /^-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----$/)
      assert.strictEqual(
        Redacted.value(c.customerKey ?? Redacted.make("")),
        "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="
      )
      assert.strictEqual(c.maxSockets, 8)
      assert.notInclude(JSON.stringify(c), "s3cr3t-value")
      assert.notInclude(String(c.credentials?.secretAccessKey), "s3cr3t-value")
    })
  )

  it.effect("inheritFromIAMRole reads no credential files; unreferenced files are not needed", () =>
    Effect.gen(function* () {
      const c = yield* load({
        OBJECT_STORE_SPEC: JSON.stringify({ bucket: "backups", credentials: { inheritFromIAMRole: true } }),
        OBJECT_STORE_SECRETS_DIR: secretsDir({})
      })
      assert.isUndefined(c.credentials)
      assert.isUndefined(c.caBundle)
      assert.isUndefined(c.customerKey)
      assert.isUndefined(c.maxSockets)
    })
  )

  it.effect("a referenced secret file that is missing is a ConfigError naming it, without secret values", () =>
    Effect.gen(function* () {
      const dir = secretsDir({ accessKeyId: "AKID", secretAccessKey: "s3cr3t-value" })
      const e = yield* Effect.flip(
        load({ OBJECT_STORE_SPEC: JSON.stringify(staticSpec), OBJECT_STORE_SECRETS_DIR: dir })
      )
      assert.strictEqual(e._tag, "ConfigError")
      assert.strictEqual(
        e.cause.message,
        `cannot read the object-store secret file ${join(dir, "sessionToken")} (spec.credentials.sessionToken, Secret "s3" key "token"): it does not exist (the Secret key is not mounted)`
      )
      assert.notInclude(e.message, "s3cr3t-value")
    })
  )

  it.effect("an empty secret file is a ConfigError naming the file, the spec field and the Secret key", () =>
    Effect.gen(function* () {
      const dir = secretsDir({ accessKeyId: "\n", secretAccessKey: "s3cr3t-value" })
      const e = yield* Effect.flip(
        load({ OBJECT_STORE_SPEC: JSON.stringify(staticSpec), OBJECT_STORE_SECRETS_DIR: dir })
      )
      assert.strictEqual(
        e.cause.message,
        `cannot read the object-store secret file ${join(dir, "accessKeyId")} (spec.credentials.accessKeyId, Secret "s3" key "id"): it is empty`
      )
    })
  )

  it.effect("a spec that does not satisfy the ObjectStore schema is a ConfigError", () =>
    Effect.gen(function* () {
      const missing = yield* Effect.flip(load({}))
      assert.include(missing.message, "OBJECT_STORE_SPEC")
      const invalid = yield* Effect.flip(
        load({
          OBJECT_STORE_SPEC: JSON.stringify({ bucket: "Bad_Bucket", credentials: { inheritFromIAMRole: true } }),
          OBJECT_STORE_SECRETS_DIR: secretsDir({})
        })
      )
      assert.include(invalid.message, "bucket")
    })
  )

  it.live("ObjectStoreClient.layerFromEnv builds the live client from the environment and secret files", () =>
    Effect.gen(function* () {
      const server = yield* s3rver({ bucket: "from-env" })
      const env = {
        OBJECT_STORE_SPEC: JSON.stringify({
          bucket: server.bucket,
          endpoint: server.endpoint,
          forcePathStyle: true,
          credentials: { accessKeyId: { name: "s", key: "a" }, secretAccessKey: { name: "s", key: "b" } }
        }),
        OBJECT_STORE_SECRETS_DIR: secretsDir({ accessKeyId: server.accessKey, secretAccessKey: server.secretKey })
      }
      const size = yield* ObjectStoreClient.use((s3) =>
        Effect.andThen(s3.putObject("k", new Uint8Array(5)), s3.headObject("k"))
      ).pipe(
        Effect.provide(ObjectStoreClient.layerFromEnv),
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))),
        Effect.provide(NodeServices.layer)
      )
      assert.strictEqual(Option.getOrThrow(size).size, 5)
    })
  )
})
