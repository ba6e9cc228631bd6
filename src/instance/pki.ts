/**
 * The cluster PKI for the instance manager's mTLS listener: a cluster CA, server certificates carrying the names
 * the backup worker dials, and client certificates for workers and the operator. ECDSA P-256 via WebCrypto and
 * `@peculiar/x509` (a maintained X.509 library), PEM in and out; no openssl shell-outs.
 *
 * @since 0.1.0
 */
// @peculiar/x509's dependency injection (tsyringe) needs the Reflect metadata API before it loads
import "reflect-metadata"
import { webcrypto } from "node:crypto"
import { isIP } from "node:net"
import * as x509 from "@peculiar/x509"
import { Data, Effect } from "effect"
import { nowDate } from "../api/time.ts"

/** Creating or loading a certificate or key failed. */
export class PkiError extends Data.TaggedError("PkiError")<{ readonly operation: string; readonly detail: string }> {}

/** A certificate and its private key, both PEM (certificate: `CERTIFICATE`, key: PKCS#8 `PRIVATE KEY`). */
export interface CertificateAndKey {
  readonly certificate: string
  readonly privateKey: string
}

/** Validity window; defaults: from 5 minutes ago (clock skew between Pods) for `days`. */
export interface Validity {
  readonly notBefore?: Date
  readonly notAfter?: Date
}

const crypto = webcrypto as unknown as Crypto
const algorithm: EcKeyGenParams & EcdsaParams = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" }
const caDays = 3650
const leafDays = 365
const skewMillis = 5 * 60 * 1000

const window = (validity: Validity, days: number, now: Date): { notBefore: Date; notAfter: Date } => {
  const notBefore = validity.notBefore ?? new Date(now.getTime() - skewMillis)
  return { notBefore, notAfter: validity.notAfter ?? new Date(notBefore.getTime() + days * 86_400_000) }
}

/** 16 random bytes, top bit cleared so the DER INTEGER stays positive (RFC 5280 §4.1.2.2). */
const serialNumber = (): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[0] = (bytes[0] ?? 0) & 0x7f
  return Buffer.from(bytes).toString("hex")
}

/** Runs one WebCrypto/x509 step at the `Clock`'s current time (validity windows start from it). */
const attempt = <A>(operation: string, f: (now: Date) => Promise<A>): Effect.Effect<A, PkiError> =>
  Effect.flatMap(nowDate, (now) =>
    Effect.tryPromise({
      try: () => f(now),
      catch: (cause) => new PkiError({ operation, detail: cause instanceof Error ? cause.message : String(cause) })
    })
  )

const generateKeys = (): Promise<CryptoKeyPair> => crypto.subtle.generateKey(algorithm, true, ["sign", "verify"])

const privateKeyPem = async (key: CryptoKey): Promise<string> =>
  x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY")

/** Distinguished names are built from a plain common name; quotes keep commas and `=` from being parsed. */
const dn = (commonName: string, organization: string): string =>
  `CN="${commonName.replaceAll('"', '\\"')}", O="${organization.replaceAll('"', '\\"')}"`

const organization = "cloudnative-mysql"

/** Creates a self-signed cluster CA (CA:TRUE, pathlen 0, keyCertSign + cRLSign). */
export const createCertificateAuthority = (
  options: { readonly commonName: string } & Validity
): Effect.Effect<CertificateAndKey, PkiError> =>
  attempt("create CA", async (now) => {
    const keys = await generateKeys()
    const certificate = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: serialNumber(),
        name: dn(options.commonName, organization),
        ...window(options, caDays, now),
        signingAlgorithm: algorithm,
        keys,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto)
        ]
      },
      crypto
    )
    return { certificate: certificate.toString("pem"), privateKey: await privateKeyPem(keys.privateKey) }
  })

const loadCa = async (ca: CertificateAndKey): Promise<{ certificate: x509.X509Certificate; key: CryptoKey }> => {
  const certificate = new x509.X509Certificate(ca.certificate)
  const key = await crypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decodeFirst(ca.privateKey),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"]
  )
  return { certificate, key }
}

const issue = (
  ca: CertificateAndKey,
  options: {
    readonly commonName: string
    readonly names: ReadonlyArray<string>
    readonly usage: "server" | "client"
  } & Validity
): Effect.Effect<CertificateAndKey, PkiError> =>
  attempt(`issue ${options.usage} certificate`, async (now) => {
    const issuer = await loadCa(ca)
    const keys = await generateKeys()
    const sans: Array<x509.JsonGeneralName> = options.names.map((name) =>
      isIP(name) === 0 ? { type: "dns", value: name } : { type: "ip", value: name }
    )
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: serialNumber(),
        subject: dn(options.commonName, organization),
        issuer: issuer.certificate.subject,
        ...window(options, leafDays, now),
        signingAlgorithm: algorithm,
        publicKey: keys.publicKey,
        signingKey: issuer.key,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension(
            [options.usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
            false
          ),
          ...(sans.length === 0 ? [] : [new x509.SubjectAlternativeNameExtension(sans, false)]),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
          await x509.AuthorityKeyIdentifierExtension.create(issuer.certificate.publicKey, false, crypto)
        ]
      },
      crypto
    )
    return { certificate: certificate.toString("pem"), privateKey: await privateKeyPem(keys.privateKey) }
  })

/**
 * Issues a server certificate for an instance manager. `names` are DNS names or IP addresses (each becomes a
 * SAN of the right type): the Pod's DNS names, the Services' names, and `127.0.0.1`/`localhost` in tests.
 */
export const issueServerCertificate = (
  ca: CertificateAndKey,
  options: { readonly commonName: string; readonly names: ReadonlyArray<string> } & Validity
): Effect.Effect<CertificateAndKey, PkiError> => issue(ca, { ...options, usage: "server" })

/** Issues a client certificate (clientAuth) for a backup worker or the operator. */
export const issueClientCertificate = (
  ca: CertificateAndKey,
  options: { readonly commonName: string } & Validity
): Effect.Effect<CertificateAndKey, PkiError> => issue(ca, { ...options, names: [], usage: "client" })
