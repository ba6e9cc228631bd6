/**
 * The fake API server's own PKI: a CA and a serving certificate for the names a client dials (the listen address,
 * `localhost`, and the `kubernetes.default.svc…` names in-cluster clients use), so kubectl and client-node verify
 * the server with `certificate-authority-data` or the service account's `ca.crt` instead of skipping TLS checks.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { createCertificateAuthority, issueServerCertificate } from "../instance/pki.ts"

/** The CA (PEM) clients trust, and the server's certificate and key. */
export interface ServingCertificate {
  readonly ca: string
  readonly certificate: string
  readonly privateKey: string
}

/** A fresh CA and a serving certificate for `host` and the in-cluster names of the API server. */
export const servingCertificate = (host: string) =>
  Effect.gen(function* () {
    const ca = yield* createCertificateAuthority({ commonName: "sandbox-apiserver-ca" })
    const serving = yield* issueServerCertificate(ca, {
      commonName: "kube-apiserver",
      names: [
        host,
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local"
      ]
    })
    return { ca: ca.certificate, certificate: serving.certificate, privateKey: serving.privateKey }
  })
