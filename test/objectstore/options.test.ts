/**
 * Every `ObjectStore` option exercised against a server that checks it (Ceph RGW), with a recording
 * proxy in front where the observable effect is a request header rather than a server decision.
 */
import { execFileSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { S3Client } from "@aws-sdk/client-s3"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted, Stream } from "effect"
import type { ObjectStore } from "../../src/api/objectStore.ts"
import type { ObjectStoreConnection } from "../../src/objectstore/connection.ts"
import { ObjectStoreClient } from "../../src/objectstore/ObjectStoreClient.ts"
import { s3ClientConfig } from "../../src/objectstore/s3Client.ts"
import { faultProxy } from "../../src/sandbox/faultProxy.ts"
import { createBucket, rgw, rgwConnection, uniqueBucketName } from "../support/rgw.ts"

const MiB = 1024 * 1024
let bucket = ""
beforeAll(async () => {
  bucket = uniqueBucketName("options")
  await createBucket(bucket)
})

const collect = <E>(stream: Stream.Stream<Uint8Array, E>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Buffer.concat(chunks))

/** Run `f` with a live client for `connection`. */
const withClient = <A, E>(
  connection: ObjectStoreConnection,
  f: (s3: ObjectStoreClient["Service"]) => Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.flatMap(ObjectStoreClient.use(Effect.succeed), f).pipe(Effect.provide(ObjectStoreClient.layer(connection)))

/** Put, head, get, and a 2-part multipart upload: every kind of request the product sends. */
const roundTrip = (s3: ObjectStoreClient["Service"], prefix: string) =>
  Effect.gen(function* () {
    const body = randomBytes(70_000)
    const key = `${prefix}/obj é+ x.bin`
    yield* s3.putObject(key, body)
    assert.strictEqual(Option.getOrThrow(yield* s3.headObject(key)).size, body.length)
    assert.deepStrictEqual(yield* collect(s3.getObject(key)), body)
    assert.deepStrictEqual(yield* collect(s3.getObject(key, { start: 10, end: 19 })), body.subarray(10, 20))
    const mpuKey = `${prefix}/multipart.bin`
    const parts = [randomBytes(5 * MiB), randomBytes(1000)]
    const uploadId = yield* s3.createMultipartUpload(mpuKey)
    const uploaded = yield* Effect.forEach(parts, (p, i) => s3.uploadPart(mpuKey, uploadId, i + 1, p))
    yield* s3.completeMultipartUpload(mpuKey, uploadId, uploaded)
    assert.deepStrictEqual(yield* collect(s3.getObject(mpuKey)), Buffer.concat(parts))
    const listed = yield* Stream.runCollect(s3.listObjects(`${prefix}/`, { pageSize: 1 }))
    assert.deepStrictEqual(
      listed.map((e) => ("key" in e ? e.key : e.commonPrefix)),
      [mpuKey, key]
    )
    const abandoned = yield* s3.createMultipartUpload(`${prefix}/abandoned`)
    assert.strictEqual((yield* s3.listMultipartUploads(`${prefix}/`)).length, 1)
    yield* s3.abortMultipartUpload(`${prefix}/abandoned`, abandoned)
    yield* s3.deleteObject(key)
    assert.isTrue(Option.isNone(yield* s3.headObject(key)))
  })

const wrongSecret = (connection: ObjectStoreConnection, secret: string): ObjectStoreConnection => ({
  ...connection,
  credentials: {
    accessKeyId: Redacted.make(rgw().accessKey),
    secretAccessKey: Redacted.make(secret)
  }
})

let prefixCounter = 0
const prefix = (label: string) => `options/${label}-${Date.now().toString(36)}-${prefixCounter++}`

describe("signature versions", () => {
  it.live("SigV4 (default): round trip; every request signed with AWS4-HMAC-SHA256", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      yield* withClient(rgwConnection(bucket, { endpoint: proxy.endpoint }), (s3) => roundTrip(s3, prefix("v4")))
      assert.isAbove(proxy.requests.length, 8)
      for (const r of proxy.requests) assert.match(String(r.headers.authorization), /^AWS4-HMAC-SHA256 Credential=/)
    })
  )

  it.live("SigV2: round trip; every request signed as `AWS key:signature` (RGW verifies v2)", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      yield* withClient(rgwConnection(bucket, { endpoint: proxy.endpoint, signatureVersion: "v2" }), (s3) =>
        roundTrip(s3, prefix("v2"))
      )
      assert.isAbove(proxy.requests.length, 8)
      for (const r of proxy.requests) {
        assert.match(String(r.headers.authorization), new RegExp(`^AWS ${rgw().accessKey}:[A-Za-z0-9+/]{27}=$`))
        assert.isUndefined(r.headers["x-amz-content-sha256"])
      }
    })
  )

  for (const signatureVersion of ["v4", "v2"] as const) {
    it.live(
      `${signatureVersion}: a wrong secret is rejected with 403 SignatureDoesNotMatch, without the secret in the error`,
      () =>
        Effect.gen(function* () {
          const secret = "WRONGsecretWRONGsecretWRONGsecret0000000"
          const connection = wrongSecret(rgwConnection(bucket, { signatureVersion }), secret)
          const put = yield* Effect.flip(
            withClient(connection, (s3) => s3.putObject(`${prefix("bad")}/k`, new Uint8Array(3)))
          )
          assert.strictEqual(put._tag, "ObjectStoreUploadFailed")
          assert.strictEqual(put.operation, "PutObject")
          assert.strictEqual(put.status, 403)
          assert.strictEqual(put.code, "SignatureDoesNotMatch")
          const list = yield* Effect.flip(withClient(connection, (s3) => Stream.runDrain(s3.listObjects("options/"))))
          assert.strictEqual(list._tag, "ObjectStoreDownloadFailed")
          assert.strictEqual(list.status, 403)
          assert.strictEqual(list.code, "SignatureDoesNotMatch")
          for (const e of [put, list]) {
            for (const text of [e.message, JSON.stringify(e), String(e)]) {
              assert.notInclude(text, secret)
              assert.notInclude(text, rgw().secretKey)
            }
          }
        })
    )
  }

  it.live("an unknown access key is 403 InvalidAccessKeyId", () =>
    Effect.gen(function* () {
      const connection: ObjectStoreConnection = {
        ...rgwConnection(bucket),
        credentials: { accessKeyId: Redacted.make("NOSUCHKEY00000000000"), secretAccessKey: Redacted.make("x") }
      }
      const e = yield* Effect.flip(withClient(connection, (s3) => s3.headObject("anything")))
      assert.strictEqual(e.status, 403)
    })
  )
})

describe("TLS", () => {
  const tls = (spec: Partial<ObjectStore>, caBundle?: string) => {
    const base = rgwConnection(bucket, { endpoint: rgw().tlsEndpoint, ...spec })
    return caBundle === undefined ? base : { ...base, caBundle }
  }
  const otherCa = () => {
    const dir = mkdtempSync(join(tmpdir(), "other-ca-"))
    execFileSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=unrelated-ca",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-keyout",
      join(dir, "ca.key"),
      "-out",
      join(dir, "ca.crt")
    ])
    const pem = readFileSync(join(dir, "ca.crt"), "utf8")
    rmSync(dir, { recursive: true, force: true })
    return pem
  }

  it.live("the CA bundle makes the https endpoint trusted", () =>
    withClient(tls({}, readFileSync(rgw().caFile, "utf8")), (s3) => roundTrip(s3, prefix("tls")))
  )

  it.live("without the CA, or with an unrelated CA, the certificate is rejected", () =>
    Effect.gen(function* () {
      for (const connection of [tls({}), tls({}, otherCa())]) {
        const e = yield* Effect.flip(
          withClient(connection, (s3) => s3.putObject(`${prefix("tls")}/k`, new Uint8Array(1)))
        )
        assert.strictEqual(e._tag, "ObjectStoreUploadFailed")
        assert.isUndefined(e.status)
        assert.match(e.detail, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify/)
      }
    })
  )

  it.live("insecure: true skips verification (only when asked)", () =>
    withClient(tls({ insecure: true }), (s3) =>
      Effect.gen(function* () {
        const key = `${prefix("insecure")}/k`
        yield* s3.putObject(key, new Uint8Array([1, 2, 3]))
        assert.deepStrictEqual([...(yield* collect(s3.getObject(key)))], [1, 2, 3])
      })
    )
  )
})

describe("server-side encryption", () => {
  const customerKey = randomBytes(32).toString("base64")
  const sseC = (key: string) => ({
    ...rgwConnection(bucket, {
      serverSideEncryption: { algorithm: "customer", customerKey: { name: "s3", key: "customerKey" } }
    }),
    customerKey: Redacted.make(key)
  })

  it.live(
    "SSE-C: put, multipart and ranged get round-trip with the key; reads without it or with another key fail",
    () =>
      Effect.gen(function* () {
        const p = prefix("ssec")
        yield* withClient(sseC(customerKey), (s3) => roundTrip(s3, p))
        const key = `${p}/multipart.bin`
        const head = yield* withClient(sseC(customerKey), (s3) => s3.headObject(key))
        assert.strictEqual(Option.getOrThrow(head).size, 5 * MiB + 1000)

        const noKey = yield* Effect.flip(withClient(rgwConnection(bucket), (s3) => Stream.runDrain(s3.getObject(key))))
        assert.strictEqual(noKey._tag, "ObjectStoreDownloadFailed")
        assert.strictEqual(noKey.status, 400)
        const otherKey = yield* Effect.flip(
          withClient(sseC(randomBytes(32).toString("base64")), (s3) => Stream.runDrain(s3.getObject(key)))
        )
        assert.isAtLeast(otherKey.status ?? 0, 400)
        assert.notInclude(JSON.stringify(otherKey), customerKey)
      })
  )

  it.live("SSE-KMS with the test key: objects are stored as aws:kms and round-trip", () =>
    Effect.gen(function* () {
      const p = prefix("kms")
      const connection = rgwConnection(bucket, {
        serverSideEncryption: { algorithm: "aws:kms", kmsKeyId: rgw().kmsKeyId }
      })
      yield* withClient(connection, (s3) => roundTrip(s3, p))
      const head = yield* withClient(connection, (s3) => s3.headObject(`${p}/multipart.bin`))
      assert.strictEqual(Option.getOrThrow(head).serverSideEncryption, "aws:kms")
    })
  )

  it.live("AES256: the SSE header goes on PutObject and CreateMultipartUpload (RGW accepts it)", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      yield* withClient(
        rgwConnection(bucket, { endpoint: proxy.endpoint, serverSideEncryption: { algorithm: "AES256" } }),
        (s3) => roundTrip(s3, prefix("aes"))
      )
      const creating = proxy.requests.filter(
        (r) =>
          (r.method === "PUT" && !r.url.includes("partNumber=")) || (r.method === "POST" && /[?&]uploads/.test(r.url))
      )
      assert.isAtLeast(creating.length, 2)
      for (const r of creating) assert.strictEqual(r.headers["x-amz-server-side-encryption"], "AES256")
      const parts = proxy.requests.filter((r) => r.url.includes("partNumber="))
      for (const r of parts) assert.isUndefined(r.headers["x-amz-server-side-encryption"])
    })
  )
})

describe("storage class, credentials, checksums, region, addressing", () => {
  it.live("storageClass is applied to put and multipart objects (HeadObject)", () =>
    Effect.gen(function* () {
      const p = prefix("sc")
      const connection = rgwConnection(bucket, { storageClass: "STANDARD_IA" })
      yield* withClient(connection, (s3) => roundTrip(s3, p))
      yield* withClient(connection, (s3) =>
        Effect.gen(function* () {
          yield* s3.putObject(`${p}/put`, new Uint8Array(10))
          for (const key of [`${p}/put`, `${p}/multipart.bin`]) {
            assert.strictEqual(Option.getOrThrow(yield* s3.headObject(key)).storageClass, "STANDARD_IA")
          }
        })
      )
    })
  )

  it.live(
    "a session token is sent as x-amz-security-token and signed (v4 and v2); RGW ignores a token it did not issue",
    () =>
      Effect.gen(function* () {
        const proxy = yield* faultProxy(rgw().endpoint)
        for (const signatureVersion of ["v4", "v2"] as const) {
          const connection: ObjectStoreConnection = {
            ...rgwConnection(bucket, { endpoint: proxy.endpoint, signatureVersion }),
            credentials: {
              accessKeyId: Redacted.make(rgw().accessKey),
              secretAccessKey: Redacted.make(rgw().secretKey),
              sessionToken: Redacted.make("session-token-not-issued-by-rgw")
            }
          }
          // RGW 16.2 only consults tokens it issued through its STS: with valid static keys the request succeeds
          yield* withClient(connection, (s3) =>
            s3.putObject(`${prefix("token")}/${signatureVersion}`, new Uint8Array(1))
          )
          const sent = proxy.requests.at(-1)
          assert.strictEqual(sent?.headers["x-amz-security-token"], "session-token-not-issued-by-rgw")
          if (signatureVersion === "v4")
            assert.match(String(sent?.headers.authorization), /SignedHeaders=[^,]*x-amz-security-token/)
        }
        // the token is covered by the signature: the same request with a changed token no longer verifies
        proxy.setRules([])
        const tampered = yield* Effect.promise(async () => {
          const original = proxy.requests.at(-1)
          const { request } = await import("node:http")
          return new Promise<number>((resolve, reject) => {
            const req = request(
              `${rgw().endpoint}${original?.url ?? "/"}`,
              { method: "PUT", headers: { ...original?.headers, "x-amz-security-token": "changed" } },
              (res) => {
                res.resume()
                resolve(res.statusCode ?? 0)
              }
            )
            req.on("error", reject)
            req.end(Buffer.from([0]))
          })
        })
        assert.strictEqual(tampered, 403)
      })
  )

  it.live("inheritFromIAMRole uses the SDK default chain (here: the AWS_* environment variables)", () =>
    Effect.gen(function* () {
      const spec = rgwConnection(bucket, { credentials: { inheritFromIAMRole: true } }).spec
      const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY }
      const setEnv = (id: string, secret: string) =>
        Effect.sync(() => {
          process.env.AWS_ACCESS_KEY_ID = id
          process.env.AWS_SECRET_ACCESS_KEY = secret
        })
      const restore = Effect.sync(() => {
        for (const [name, value] of [
          ["AWS_ACCESS_KEY_ID", saved.id],
          ["AWS_SECRET_ACCESS_KEY", saved.secret]
        ] as const) {
          if (value === undefined) delete process.env[name]
          else process.env[name] = value
        }
      })
      yield* Effect.gen(function* () {
        yield* setEnv(rgw().accessKey, rgw().secretKey)
        const key = `${prefix("iam")}/k`
        yield* withClient({ spec }, (s3) => s3.putObject(key, new Uint8Array([7])))
        yield* setEnv(rgw().accessKey, "not-the-secret-0000000000000000000000000")
        const e = yield* Effect.flip(withClient({ spec }, (s3) => s3.headObject(key)))
        assert.strictEqual(e.status, 403)
      }).pipe(Effect.ensuring(restore))
    })
  )

  it.live("checksumCalculation: WHEN_REQUIRED (default) sends no flexible checksum; WHEN_SUPPORTED sends CRC32", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      const body = randomBytes(1000)
      yield* withClient(rgwConnection(bucket, { endpoint: proxy.endpoint }), (s3) =>
        s3.putObject(`${prefix("crc")}/required`, body)
      )
      assert.isUndefined(proxy.requests.at(-1)?.headers["x-amz-checksum-crc32"])
      yield* withClient(
        rgwConnection(bucket, { endpoint: proxy.endpoint, checksumCalculation: "WHEN_SUPPORTED" }),
        (s3) => s3.putObject(`${prefix("crc")}/supported`, body)
      )
      assert.isString(proxy.requests.at(-1)?.headers["x-amz-checksum-crc32"])
    })
  )

  it.live("region goes into the SigV4 credential scope", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      yield* withClient(rgwConnection(bucket, { endpoint: proxy.endpoint, region: "eu-west-3" }), (s3) =>
        s3.headObject("no-such-key")
      )
      assert.match(String(proxy.requests.at(-1)?.headers.authorization), /\/eu-west-3\/s3\/aws4_request/)
    })
  )

  it.live("forcePathStyle: path style puts the bucket in the path, virtual-host style in the host name", () =>
    Effect.gen(function* () {
      const seen = (forcePathStyle: boolean) =>
        Effect.promise(async () => {
          const connection = rgwConnection("my-bucket", { endpoint: "http://s3.example.test:9000", forcePathStyle })
          const client = new S3Client(s3ClientConfig(connection))
          let target = ""
          client.middlewareStack.add(
            (_next, _context) => async (args) => {
              const request = args.request as { hostname: string; path: string }
              target = `${request.hostname}${request.path}`
              throw new Error("stop before sending")
            },
            { step: "finalizeRequest" }
          )
          const { HeadObjectCommand } = await import("@aws-sdk/client-s3")
          await client.send(new HeadObjectCommand({ Bucket: "my-bucket", Key: "a/b" })).catch(() => undefined)
          client.destroy()
          return target
        })
      assert.strictEqual(yield* seen(true), "s3.example.test/my-bucket/a/b")
      assert.strictEqual(yield* seen(false), "my-bucket.s3.example.test/a/b")
    })
  )
})

describe("SSE-C key is sent with its MD5 on every data request", () => {
  it.live("create, upload part, complete, put, head, get carry the customer key headers", () =>
    Effect.gen(function* () {
      const proxy = yield* faultProxy(rgw().endpoint)
      const key = randomBytes(32)
      const connection: ObjectStoreConnection = {
        ...rgwConnection(bucket, {
          endpoint: proxy.endpoint,
          serverSideEncryption: { algorithm: "customer", customerKey: { name: "s3", key: "k" } }
        }),
        customerKey: Redacted.make(key.toString("base64"))
      }
      yield* withClient(connection, (s3) => roundTrip(s3, prefix("ssec-headers")))
      const md5 = createHash("md5").update(key).digest("base64")
      const isListing = (url: string) => url.includes("list-type=") || /[?&]uploads(=|&|$)/.test(url)
      const needing = proxy.requests.filter((r) => r.method !== "DELETE" && !(r.method === "GET" && isListing(r.url)))
      assert.deepStrictEqual([...new Set(needing.map((r) => r.method))].sort(), ["GET", "HEAD", "POST", "PUT"])
      for (const r of needing) {
        assert.strictEqual(
          r.headers["x-amz-server-side-encryption-customer-algorithm"],
          "AES256",
          `${r.method} ${r.url}`
        )
        assert.strictEqual(r.headers["x-amz-server-side-encryption-customer-key-md5"], md5, `${r.method} ${r.url}`)
      }
    })
  )
})
