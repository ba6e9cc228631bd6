/**
 * Fault run R4: certificates. The instance manager's real mTLS listener (in-process, `serveInstanceManager`)
 * with good and bad server certificates, dialled with good and bad client material: no client certificate, a
 * client that trusts another CA, an expired or not yet valid client certificate, a client certificate of another
 * cluster's CA, an expired or not yet valid server certificate, a server certificate whose names do not match.
 * Every case must be refused as `InstanceManagerTLSFailed` whose message names the cause; a control case (all
 * good) must get through the TLS layer.
 *
 * How a case is dialled is the caller's choice (`Dial`): the test uses the client in-process, the benchmark runs
 * the real `cloudnative-mysql backup` process and reads its termination message.
 *
 * @since 0.1.0
 */
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Clock, Effect, Redacted, type Scope } from "effect"
import { startBackup } from "../../instance/client.ts"
import { mariadb } from "../../instance/flavor.ts"
import {
  type CertificateAndKey,
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate
} from "../../instance/pki.ts"
import { serveInstanceManager } from "../../instance/server.ts"
import { runSubcommand, workerEnv } from "../processes.ts"

const day = 86_400_000

/** PEM files of one client's TLS material, as the worker gets them mounted. */
export interface ClientFiles {
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
}

/** One way of presenting certificates to one instance manager. */
export interface CertificateCase {
  readonly name: string
  readonly url: string
  readonly client: ClientFiles
  /** The text the refusal's message must contain (a regular expression); `undefined` for the control case. */
  readonly cause: RegExp | undefined
}

/** How one case ended: the reason and message reported. */
export interface DialOutcome {
  readonly reason: string
  readonly message: string
}

/** Dials one case (in-process client or a worker process). */
export type Dial<R> = (c: CertificateCase) => Effect.Effect<DialOutcome, never, R>

/** The reason of a case that got through the TLS layer. */
export const accepted = "Accepted"

/**
 * Dials in-process with the instance-manager client (`startBackup`, as the worker does). Getting any answer
 * (the backup itself fails: no server behind these listeners) means the TLS layer let it through.
 */
export const dialInProcess: Dial<never> = (c) =>
  Effect.gen(function* () {
    const [ca, cert, key] = yield* Effect.promise(() =>
      Promise.all([
        readFile(c.client.caFile, "utf8"),
        readFile(c.client.certFile, "utf8"),
        readFile(c.client.keyFile, "utf8")
      ])
    )
    return yield* Effect.scoped(startBackup(c.url, { ca, cert, key })).pipe(
      Effect.as({ reason: accepted, message: "the backup stream started" }),
      Effect.catch((error) =>
        Effect.succeed(
          error._tag === "InstanceManagerTLSFailed"
            ? { reason: error._tag, message: error.message }
            : { reason: accepted, message: `past TLS: ${error.message}` }
        )
      )
    )
  })

/** Dials with the real `cloudnative-mysql backup` process and reads its termination message. */
export const dialWorkerProcess =
  (options: { readonly workDir: string; readonly storeEnv: Readonly<Record<string, string>> }): Dial<never> =>
  (c) =>
    Effect.gen(function* () {
      const outcome = yield* runSubcommand("backup", {
        workDir: options.workDir,
        env: {
          ...options.storeEnv,
          ...workerEnv({
            url: c.url,
            pki: {
              caFile: c.client.caFile,
              serverCertFile: "",
              serverKeyFile: "",
              clientCertFile: c.client.certFile,
              clientKeyFile: c.client.keyFile
            },
            cluster: "tls",
            backupName: "tls",
            backupId: "20261201T000000Z"
          })
        }
      })
      const message = outcome.termination as { reason?: unknown; message?: unknown } | undefined
      const reason = typeof message?.reason === "string" ? message.reason : ""
      return reason === "InstanceManagerTLSFailed"
        ? { reason, message: String(message?.message ?? "") }
        : { reason: accepted, message: `past TLS: ${reason} ${String(message?.message ?? "")}` }
    })

/** The figures of R4. */
export interface CertificateFigures {
  readonly cases: number
  readonly refused: number
  readonly refusedAsInstanceManagerTLSFailed: number
  readonly causeNamed: number
  readonly controlAccepted: boolean
  readonly failures: ReadonlyArray<{ readonly name: string; readonly reason: string; readonly message: string }>
  readonly outcomes: ReadonlyArray<{ readonly name: string; readonly reason: string; readonly message: string }>
}

const writePair = (dir: string, name: string, ca: string, pair: CertificateAndKey | undefined) =>
  Effect.promise(async () => {
    const files = {
      caFile: join(dir, `${name}-ca.crt`),
      certFile: join(dir, `${name}.crt`),
      keyFile: join(dir, `${name}.key`)
    }
    await writeFile(files.caFile, ca)
    await writeFile(files.certFile, pair?.certificate ?? "")
    await writeFile(files.keyFile, pair?.privateKey ?? "", { mode: 0o600 })
    return files
  })

/** Starts the listeners and runs every case through `dial`. */
export const runCertificateFaults = <R>(options: {
  readonly dir: string
  readonly dial: Dial<R>
}): Effect.Effect<CertificateFigures, unknown, R | Scope.Scope> =>
  Effect.gen(function* () {
    const dir = options.dir
    yield* Effect.promise(() => mkdir(dir, { recursive: true }))
    const now = yield* Clock.currentTimeMillis
    const expired = { notBefore: new Date(now - 40 * day), notAfter: new Date(now - 10 * day) }
    const future = { notBefore: new Date(now + 10 * day), notAfter: new Date(now + 40 * day) }
    const ca = yield* createCertificateAuthority({ commonName: "cluster A CA" })
    const otherCa = yield* createCertificateAuthority({ commonName: "cluster B CA" })
    const loopback = ["127.0.0.1", "localhost"]
    const servers = {
      good: yield* issueServerCertificate(ca, { commonName: "a-1", names: loopback }),
      expired: yield* issueServerCertificate(ca, { commonName: "a-1", names: loopback, ...expired }),
      future: yield* issueServerCertificate(ca, { commonName: "a-1", names: loopback, ...future }),
      wrongName: yield* issueServerCertificate(ca, { commonName: "a-9", names: ["a-9.a.db.svc"] })
    }
    const clients = {
      good: yield* issueClientCertificate(ca, { commonName: "backup-worker" }),
      expired: yield* issueClientCertificate(ca, { commonName: "old-worker", ...expired }),
      future: yield* issueClientCertificate(ca, { commonName: "early-worker", ...future }),
      otherCluster: yield* issueClientCertificate(otherCa, { commonName: "backup-worker" })
    }
    const listen = (server: CertificateAndKey) =>
      serveInstanceManager({
        flavor: mariadb,
        // nothing listens there: the TLS layer is all these cases reach
        address: { _tag: "Socket", path: join(dir, "no-server.sock") },
        user: "backup",
        password: Redacted.make("unused"),
        tls: { ca: ca.certificate, cert: server.certificate, key: server.privateKey },
        listenAddress: "127.0.0.1",
        apiPort: 0,
        probePort: 0,
        killGraceMillis: 1000
      }).pipe(Effect.map((m) => `https://127.0.0.1:${m.apiPort}`))
    const url = {
      good: yield* listen(servers.good),
      expired: yield* listen(servers.expired),
      future: yield* listen(servers.future),
      wrongName: yield* listen(servers.wrongName)
    }
    const files = {
      good: yield* writePair(dir, "good", ca.certificate, clients.good),
      none: yield* writePair(dir, "none", ca.certificate, undefined),
      trustsOther: yield* writePair(dir, "trusts-other", otherCa.certificate, clients.good),
      expired: yield* writePair(dir, "expired", ca.certificate, clients.expired),
      future: yield* writePair(dir, "future", ca.certificate, clients.future),
      otherCluster: yield* writePair(dir, "other-cluster", ca.certificate, clients.otherCluster)
    }
    const cases: ReadonlyArray<CertificateCase> = [
      { name: "control: good client, good server", url: url.good, client: files.good, cause: undefined },
      { name: "no client certificate", url: url.good, client: files.none, cause: /no client certificate/u },
      {
        name: "client trusts another CA",
        url: url.good,
        client: files.trustsOther,
        cause: /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/u
      },
      {
        name: "expired client certificate",
        url: url.good,
        client: files.expired,
        cause: /client certificate expired/u
      },
      {
        name: "client certificate not yet valid",
        url: url.good,
        client: files.future,
        cause: /client certificate is not valid before/u
      },
      {
        name: "client certificate of another cluster's CA",
        url: url.good,
        client: files.otherCluster,
        cause: /signed by "CN=cluster B CA.*not by the cluster CA "CN=cluster A CA/u
      },
      { name: "expired server certificate", url: url.expired, client: files.good, cause: /CERT_HAS_EXPIRED/u },
      { name: "server certificate not yet valid", url: url.future, client: files.good, cause: /CERT_NOT_YET_VALID/u },
      {
        name: "server certificate for another name",
        url: url.wrongName,
        client: files.good,
        cause: /ERR_TLS_CERT_ALTNAME_INVALID/u
      }
    ]
    const outcomes = yield* Effect.forEach(cases, (c) =>
      Effect.map(options.dial(c), (outcome) => ({ case: c, outcome }))
    )
    const refusals = outcomes.filter((o) => o.case.cause !== undefined)
    const control = outcomes.find((o) => o.case.cause === undefined)
    const ok = (o: (typeof outcomes)[number]) =>
      o.outcome.reason === "InstanceManagerTLSFailed" && (o.case.cause?.test(o.outcome.message) ?? false)
    const describe = (o: (typeof outcomes)[number]) => ({ name: o.case.name, ...o.outcome })
    return {
      cases: refusals.length,
      refused: refusals.filter((o) => o.outcome.reason !== accepted).length,
      refusedAsInstanceManagerTLSFailed: refusals.filter((o) => o.outcome.reason === "InstanceManagerTLSFailed").length,
      causeNamed: refusals.filter(ok).length,
      controlAccepted: control !== undefined && control.outcome.reason !== "InstanceManagerTLSFailed",
      failures: refusals.filter((o) => !ok(o)).map(describe),
      outcomes: outcomes.map(describe)
    } satisfies CertificateFigures
  })
