/**
 * Authentication for the fake API server, as the real one authenticates: a bearer token is either the sandbox
 * admin's static token (user `kubernetes-admin` in `system:masters`, what the kubeconfig of `writeKubeconfig`
 * carries) or a ServiceAccount token this server issued; a request without credentials is `system:anonymous`; a
 * presented token that does not check out is 401 `Unauthorized`.
 *
 * ServiceAccount tokens are what the TokenRequest API (`POST .../serviceaccounts/<name>/token`, used by the kubelet
 * for projected tokens and by `kubectl create token`) hands out: ES256-signed JWTs with the real claims (`iss`,
 * `sub`, `aud`, `exp`, `iat`, `nbf` and `kubernetes.io` with the namespace, the ServiceAccount's name and uid, and the
 * bound Pod's). A token is accepted while it has not expired (by the Effect `Clock`), names the API server's
 * audience, its ServiceAccount still exists with the same uid and, when bound to a Pod, that Pod still exists with
 * the same uid: deleting and recreating a ServiceAccount revokes its old tokens.
 *
 * @since 0.1.0
 */
import { generateKeyPairSync, type KeyObject, randomBytes, sign, verify } from "node:crypto"
import { mastersGroup, serviceAccountUserName, type UserInfo } from "./rbac.ts"
import { isRecord } from "./StoredObject.ts"

/** The issuer and default audience of ServiceAccount tokens (the real default `--service-account-issuer`). */
export const apiServerAudience = "https://kubernetes.default.svc.cluster.local"

/** The sandbox admin (kubectl, tests): bypasses authorization like kind's `kubernetes-admin`. */
export const adminUser: UserInfo = { name: "kubernetes-admin", groups: [mastersGroup, "system:authenticated"] }

/** A request without credentials. */
export const anonymousUser: UserInfo = { name: "system:anonymous", groups: ["system:unauthenticated"] }

/** The identity a ServiceAccount's token authenticates as. */
export const serviceAccountUser = (namespace: string, name: string, uid: string): UserInfo => ({
  name: serviceAccountUserName(namespace, name),
  uid,
  groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"]
})

/** The Kubernetes-specific claims of a ServiceAccount token. */
export interface ServiceAccountClaims {
  readonly namespace: string
  readonly serviceAccount: { readonly name: string; readonly uid: string }
  readonly pod?: { readonly name: string; readonly uid: string }
  readonly audiences: ReadonlyArray<string>
  /** Seconds since the epoch. */
  readonly issuedAt: number
  readonly expiresAt: number
}

const base64url = (value: Buffer | string): string => Buffer.from(value).toString("base64url")

const decodeJson = (part: string): unknown => {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"))
  } catch {
    return undefined
  }
}

const stringOf = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)

const nameAndUid = (value: unknown): { readonly name: string; readonly uid: string } | undefined => {
  if (!isRecord(value)) return undefined
  const name = stringOf(value.name)
  const uid = stringOf(value.uid)
  return name === undefined || uid === undefined ? undefined : { name, uid }
}

/** Signs and checks tokens with one P-256 key per server (a restarted sandbox invalidates every token). */
export class TokenAuthority {
  readonly adminToken: string
  private readonly privateKey: KeyObject
  private readonly publicKey: KeyObject
  private readonly keyId: string

  // keys and the admin token are credentials: they come from the CSPRNG, not the fiber's (seedable) Random
  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" })
    this.privateKey = privateKey
    this.publicKey = publicKey
    this.keyId = randomBytes(8).toString("hex")
    this.adminToken = randomBytes(24).toString("base64url")
  }

  /** A signed JWT for these claims. */
  issue(claims: ServiceAccountClaims): string {
    const header = base64url(JSON.stringify({ alg: "ES256", kid: this.keyId }))
    const payload = base64url(
      JSON.stringify({
        aud: claims.audiences,
        exp: claims.expiresAt,
        iat: claims.issuedAt,
        iss: apiServerAudience,
        nbf: claims.issuedAt,
        sub: serviceAccountUserName(claims.namespace, claims.serviceAccount.name),
        "kubernetes.io": {
          namespace: claims.namespace,
          serviceaccount: claims.serviceAccount,
          ...(claims.pod === undefined ? {} : { pod: claims.pod })
        }
      })
    )
    const signature = sign("sha256", Buffer.from(`${header}.${payload}`), {
      key: this.privateKey,
      dsaEncoding: "ieee-p1363"
    })
    return `${header}.${payload}.${base64url(signature)}`
  }

  /** The claims of a token this authority signed that is valid at `nowSeconds` for the API server; else undefined. */
  check(token: string, nowSeconds: number): ServiceAccountClaims | undefined {
    const [header, payload, signature, ...rest] = token.split(".")
    if (header === undefined || payload === undefined || signature === undefined || rest.length > 0) return undefined
    const signed = verify(
      "sha256",
      Buffer.from(`${header}.${payload}`),
      { key: this.publicKey, dsaEncoding: "ieee-p1363" },
      Buffer.from(signature, "base64url")
    )
    if (!signed) return undefined
    const claims = decodeJson(payload)
    if (!isRecord(claims) || !isRecord(claims["kubernetes.io"])) return undefined
    const kube = claims["kubernetes.io"]
    const namespace = stringOf(kube.namespace)
    const serviceAccount = nameAndUid(kube.serviceaccount)
    const pod = kube.pod === undefined ? undefined : nameAndUid(kube.pod)
    const audiences = Array.isArray(claims.aud) ? claims.aud.filter((a): a is string => typeof a === "string") : []
    const issuedAt = typeof claims.iat === "number" ? claims.iat : Number.NaN
    const expiresAt = typeof claims.exp === "number" ? claims.exp : Number.NaN
    if (namespace === undefined || serviceAccount === undefined || (kube.pod !== undefined && pod === undefined)) {
      return undefined
    }
    if (!audiences.includes(apiServerAudience) || !(nowSeconds < expiresAt) || !(nowSeconds >= issuedAt))
      return undefined
    return { namespace, serviceAccount, ...(pod === undefined ? {} : { pod }), audiences, issuedAt, expiresAt }
  }
}

/** The bearer token of an `Authorization` header: undefined without one, "" when it is not a bearer token. */
export const bearerToken = (header: string | undefined): string | undefined => {
  if (header === undefined || header === "") return undefined
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match?.[1] ?? ""
}
