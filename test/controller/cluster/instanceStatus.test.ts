/**
 * The Cluster's own PKI, for real: the Secrets the reconciler generates serve a real instance manager (on a
 * real MariaDB), and `InstanceStatusClient` polls it by Pod IP while verifying the Pod's DNS name from the
 * server certificate; a name the certificate does not cover, or another Cluster's client certificate, fails.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Random, Redacted } from "effect"
import { InstanceStatusClient } from "../../../src/controller/cluster/InstanceStatusClient.ts"
import { tlsFiles } from "../../../src/controller/cluster/layout.ts"
import { clientTlsOf, generatePassword, missingSecrets } from "../../../src/controller/cluster/secrets.ts"
import { mariadb } from "../../../src/instance/flavor.ts"
import { serveInstanceManager } from "../../../src/instance/server.ts"
import type { Secret } from "../../../src/kube/resources.ts"
import { backupUser, startMariadb } from "../../../src/sandbox/mariadb.ts"
import { ref } from "./fixtures.ts"

const decoded = (secret: Secret | undefined, key: string) =>
  Buffer.from(secret?.data?.[key] ?? "", "base64").toString("utf8")

describe("the Cluster's PKI with a real instance manager", () => {
  it.live(
    "polls /cluster/status by Pod IP, verifying the Pod's DNS name; refuses uncovered names and foreign clients",
    () =>
      Effect.gen(function* () {
        const secrets = yield* missingSecrets(ref(), {})
        const other = yield* missingSecrets(ref({}, "other"), {})
        const byName = (list: ReadonlyArray<Secret>, suffix: string) =>
          list.find((s) => s.metadata?.name?.endsWith(suffix))
        assert.deepStrictEqual(
          secrets.map((s) => [s.metadata?.name, s.type]),
          [
            ["db-ca", "Opaque"],
            ["db-server-tls", "kubernetes.io/tls"],
            ["db-client-tls", "kubernetes.io/tls"],
            ["db-credentials", "Opaque"]
          ]
        )
        const server = byName(secrets, "-server-tls")
        assert.strictEqual(decoded(server, tlsFiles.caKey), "", "the CA key stays in the operator-only Secret")
        const passwords = ["root", "replication", "backup"].map((key) => decoded(byName(secrets, "-credentials"), key))
        assert.strictEqual(new Set(passwords).size, 3)
        for (const password of passwords) assert.match(password, /^[A-Za-z0-9]{32}$/u)

        const db = yield* startMariadb()
        yield* db.createUser(backupUser.user, backupUser.password, backupUser.grants)
        const manager = yield* serveInstanceManager({
          flavor: mariadb,
          address: { _tag: "Socket", path: db.socket },
          user: backupUser.user,
          password: Redacted.make(backupUser.password),
          tls: {
            ca: decoded(server, tlsFiles.ca),
            cert: decoded(server, tlsFiles.cert),
            key: decoded(server, tlsFiles.key)
          },
          listenAddress: "127.0.0.1",
          apiPort: 0,
          probePort: 0,
          killGraceMillis: 3000
        }).pipe(Effect.provide(Logger.layer([])))
        const client = yield* InstanceStatusClient
        const url = `https://127.0.0.1:${manager.apiPort}`
        const tls = clientTlsOf(byName(secrets, "-client-tls"))
        assert.isDefined(tls)
        if (tls === undefined) return
        const status = yield* client.status({
          instance: "db-1",
          url,
          tls: { ...tls, servername: "db-1.db-instances.ns.svc" }
        })
        assert.strictEqual(status.role, "primary")
        assert.isTrue(status.ready)
        const viaService = yield* client.status({ instance: "db-1", url, tls: { ...tls, servername: "db-rw.ns.svc" } })
        assert.strictEqual(viaService.role, "primary")

        const wrongName = yield* Effect.flip(
          client.status({ instance: "db-1", url, tls: { ...tls, servername: "db-1.elsewhere.ns.svc" } })
        )
        assert.strictEqual(wrongName._tag, "InstanceManagerTLSFailed")
        const foreign = clientTlsOf(byName(other, "-client-tls"))
        if (foreign === undefined) return assert.fail("no client Secret for the other Cluster")
        const refused = yield* Effect.flip(
          client.status({ instance: "db-1", url, tls: { ...foreign, servername: "db-1.db-instances.ns.svc" } })
        )
        assert.strictEqual(refused._tag, "InstanceManagerTLSFailed")
      }).pipe(Effect.scoped, Effect.provide(InstanceStatusClient.layer)),
    120_000
  )

  it.effect("passwords come from Effect's Random: a seeded Random repeats them", () =>
    Effect.gen(function* () {
      const a = yield* generatePassword.pipe(Random.withSeed("seed"))
      const b = yield* generatePassword.pipe(Random.withSeed("seed"))
      const c = yield* generatePassword.pipe(Random.withSeed("other"))
      assert.strictEqual(a, b)
      assert.notStrictEqual(a, c)
    })
  )
})
