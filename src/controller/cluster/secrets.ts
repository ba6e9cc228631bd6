/**
 * The Secrets of a Cluster: its own CA (`<cluster>-ca`, read only by the operator: no Pod mounts it), the server
 * certificate every instance presents (`<cluster>-server-tls`, SANs covering every name a client dials), the
 * client certificate of the operator, the backup workers and joining replicas (`<cluster>-client-tls`), and the
 * generated database passwords (`<cluster>-credentials`). Each is created once when missing and never
 * rewritten (rotation before expiry is a documented follow-up). A recovered Cluster mints all of them afresh:
 * nothing of the source's identity is reused.
 *
 * Passwords come from Effect's `Random`, which the controller process provides as `secureRandom` (the default
 * `Random` is not cryptographically secure); tests seed it.
 *
 * @since 0.1.0
 */
import { randomBytes } from "node:crypto"
import { Clock, Effect, Random } from "effect"
import { clusterLabels, secretNames, serviceNames } from "../../api/names.ts"
import {
  type CertificateAndKey,
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate
} from "../../instance/pki.ts"
import type { Secret } from "../../kube/resources.ts"
import { passwordFiles, tlsFiles } from "./layout.ts"
import { type ClusterRef, ownerReference } from "./render.ts"

/** Every name a client dials, as SANs: the Services and, by wildcard, each Pod under the headless Service. */
export const serverCertificateNames = (cluster: ClusterRef): ReadonlyArray<string> => {
  const s = serviceNames(cluster.name)
  const forms = (host: string) => [
    host,
    `${host}.${cluster.namespace}`,
    `${host}.${cluster.namespace}.svc`,
    `${host}.${cluster.namespace}.svc.cluster.local`
  ]
  return [...[s.readWrite, s.readOnly, s.read, s.headless].flatMap(forms), ...forms(`*.${s.headless}`)]
}

/** `Random` backed by the operating system's CSPRNG. */
export const secureRandom: Random.Random = {
  nextIntUnsafe: () => randomBytes(6).readUIntBE(0, 6),
  // 53 random bits, the precision of a double
  nextDoubleUnsafe: () => Number(randomBytes(8).readBigUInt64BE() >> 11n) / 2 ** 53
}

const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

/** A 32-character password from an unambiguous alphanumeric alphabet (~186 bits). */
export const generatePassword: Effect.Effect<string> = Effect.gen(function* () {
  let password = ""
  for (let i = 0; i < 32; i++) password += alphabet[yield* Random.nextIntBetween(0, alphabet.length - 1)]
  return password
})

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64")
const unb64 = (text: string | undefined): string | undefined =>
  text === undefined ? undefined : Buffer.from(text, "base64").toString("utf8")

/** The Cluster's Secrets as they are, each absent when it does not exist yet. */
export interface ExistingSecrets {
  readonly ca?: Secret
  readonly serverTls?: Secret
  readonly clientTls?: Secret
  readonly credentials?: Secret
}

const secret = (cluster: ClusterRef, name: string, type: string, data: Record<string, string>): Secret => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: {
    name,
    namespace: cluster.namespace,
    labels: clusterLabels(cluster.name),
    ownerReferences: [ownerReference(cluster)]
  },
  type,
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)]))
})

const caOf = (existing: Secret | undefined): CertificateAndKey | undefined => {
  const certificate = unb64(existing?.data?.[tlsFiles.ca])
  const privateKey = unb64(existing?.data?.[tlsFiles.caKey])
  return certificate === undefined || privateKey === undefined ? undefined : { certificate, privateKey }
}

/** The Secrets to create: every one of the four that does not exist yet (certificates valid from `now` - 5 min). */
export const missingSecrets = Effect.fn("ClusterReconciler.missingSecrets")(function* (
  cluster: ClusterRef,
  existing: ExistingSecrets
) {
  const names = secretNames(cluster.name)
  const now = yield* Clock.currentTimeMillis
  const notBefore = new Date(now - 5 * 60_000)
  const created: Array<Secret> = []
  let ca = caOf(existing.ca)
  if (ca === undefined) {
    ca = yield* createCertificateAuthority({ commonName: `${cluster.namespace}/${cluster.name} CA`, notBefore })
    created.push(
      secret(cluster, names.ca, "Opaque", { [tlsFiles.ca]: ca.certificate, [tlsFiles.caKey]: ca.privateKey })
    )
  }
  const tls = (pair: CertificateAndKey) => ({
    [tlsFiles.ca]: ca.certificate,
    [tlsFiles.cert]: pair.certificate,
    [tlsFiles.key]: pair.privateKey
  })
  if (existing.serverTls === undefined) {
    const server = yield* issueServerCertificate(ca, {
      commonName: `${cluster.name}-instances`,
      names: serverCertificateNames(cluster),
      notBefore
    })
    created.push(secret(cluster, names.serverTls, "kubernetes.io/tls", tls(server)))
  }
  if (existing.clientTls === undefined) {
    const client = yield* issueClientCertificate(ca, { commonName: `${cluster.name}-operator`, notBefore })
    created.push(secret(cluster, names.clientTls, "kubernetes.io/tls", tls(client)))
  }
  if (existing.credentials === undefined) {
    created.push(
      secret(cluster, names.credentials, "Opaque", {
        [passwordFiles.root]: yield* generatePassword,
        [passwordFiles.replication]: yield* generatePassword,
        [passwordFiles.backup]: yield* generatePassword,
        [passwordFiles.archiver]: yield* generatePassword
      })
    )
  }
  return created
})

/** The operator's client TLS material for a Cluster's instance managers, from its Secrets. */
export const clientTlsOf = (clientTls: Secret | undefined) => {
  const ca = unb64(clientTls?.data?.[tlsFiles.ca])
  const cert = unb64(clientTls?.data?.[tlsFiles.cert])
  const key = unb64(clientTls?.data?.[tlsFiles.key])
  return ca === undefined || cert === undefined || key === undefined ? undefined : { ca, cert, key }
}
