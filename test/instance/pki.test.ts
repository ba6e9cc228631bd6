import { createPrivateKey, X509Certificate } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from "../../src/instance/pki.ts"

describe("pki", () => {
  it.effect("issues server and client certificates that chain to the cluster CA", () =>
    Effect.gen(function* () {
      const ca = yield* createCertificateAuthority({ commonName: "db1 cluster CA" })
      const server = yield* issueServerCertificate(ca, {
        commonName: "db1-1",
        names: ["db1-1.db1.default.svc", "db1-rw", "localhost", "127.0.0.1", "::1"]
      })
      const client = yield* issueClientCertificate(ca, { commonName: "backup-worker" })
      const caCert = new X509Certificate(ca.certificate)
      const serverCert = new X509Certificate(server.certificate)
      const clientCert = new X509Certificate(client.certificate)
      assert.isTrue(caCert.ca)
      assert.isFalse(serverCert.ca)
      assert.isTrue(serverCert.checkIssued(caCert) && serverCert.verify(caCert.publicKey))
      assert.isTrue(clientCert.checkIssued(caCert) && clientCert.verify(caCert.publicKey))
      assert.strictEqual(serverCert.checkHost("db1-1.db1.default.svc"), "db1-1.db1.default.svc")
      assert.strictEqual(serverCert.checkIP("127.0.0.1"), "127.0.0.1")
      assert.strictEqual(serverCert.checkIP("10.0.0.1"), undefined)
      assert.strictEqual(serverCert.checkHost("other"), undefined)
      assert.include(serverCert.keyUsage ?? [], "1.3.6.1.5.5.7.3.1")
      assert.include(clientCert.keyUsage ?? [], "1.3.6.1.5.5.7.3.2")
      assert.strictEqual(createPrivateKey(server.privateKey).asymmetricKeyDetails?.namedCurve, "prime256v1")
      assert.isTrue(serverCert.checkPrivateKey(createPrivateKey(server.privateKey)))
      assert.include(clientCert.subject, "CN=backup-worker")
      const days = (Date.parse(serverCert.validTo) - Date.parse(serverCert.validFrom)) / 86_400_000
      assert.isTrue(days > 360 && days < 370)
    })
  )

  it.effect("honours an explicit validity window (used to make expired certificates)", () =>
    Effect.gen(function* () {
      const ca = yield* createCertificateAuthority({ commonName: "ca" })
      const expired = yield* issueClientCertificate(ca, {
        commonName: "old",
        notBefore: new Date("2020-01-01T00:00:00Z"),
        notAfter: new Date("2020-02-01T00:00:00Z")
      })
      assert.strictEqual(new Date(new X509Certificate(expired.certificate).validTo).getUTCFullYear(), 2020)
    })
  )

  it.effect("fails with PkiError on a malformed CA", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        issueClientCertificate({ certificate: "nope", privateKey: "nope" }, { commonName: "x" })
      )
      assert.strictEqual(error._tag, "PkiError")
    })
  )
})
