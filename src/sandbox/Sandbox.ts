/**
 * `Sandbox`: the whole local Kubernetes of `npm run sandbox` as one scoped layer — the fake API server (with
 * our CRDs), the node agent that runs Pods as processes, the kube-controller-manager's controllers (Job, PVC
 * provisioner, garbage collector, Deployment/ReplicaSet, Endpoints) against its HTTP face, and an object store
 * (Ceph RGW when installed, else s3rver) with the bucket `cloudnative-mysql-backups` and the Secret
 * `sandbox-s3-credentials` (`accessKey`, `secretKey`) in `default`. Tests of other issues start it in-process
 * with this layer, or as a child process through `npm run sandbox` (see `main.ts`).
 *
 * Everything lives under one state directory (removed when the scope closes unless `keep`); the Pod IPs come
 * from a loopback block no other sandbox holds; every server listens on loopback ports chosen at start, so two
 * sandboxes on one machine do not collide.
 *
 * @since 0.1.0
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { KubeConfig } from "@kubernetes/client-node"
import { Context, Data, Deferred, Effect, Layer } from "effect"
import { createCertificateAuthority, issueServerCertificate } from "../instance/pki.ts"
import { KubeApi } from "../kube/KubeApi.ts"
import { SandboxControllers } from "./controllers/SandboxControllers.ts"
import { FakeApiServer, type FakeApiServerService, kubeconfigYaml } from "./FakeApiServer.ts"
import { FakeCluster } from "./FakeCluster.ts"
import type { AddressBlockUnavailable } from "./node/addresses.ts"
import { NodeAgent, type NodeAgentOptions, type NodeAgentUnavailable } from "./node/NodeAgent.ts"
import type { ServiceAccountTokenRequest } from "./node/podWorker.ts"
import type { PodLogs } from "./PodLogs.ts"
import { freePort } from "./ports.ts"
import { launchRgw } from "./rgw/rgw.ts"
import { createBucket, type S3Endpoint } from "./s3Endpoint.ts"
import { s3rver } from "./s3rver.ts"

/** The bucket every sandbox has. */
export const sandboxBucket = "cloudnative-mysql-backups"
/** The Secret (namespace `default`) with the object store's keys. */
export const sandboxCredentialsSecret = "sandbox-s3-credentials"

/** The sandbox could not start. */
export class SandboxError extends Data.TaggedError("SandboxError")<{ readonly message: string }> {}

export interface SandboxOptions {
  /** Default: a new directory under the system temp dir. */
  readonly stateDir?: string
  /** Keep the state directory when the sandbox stops. */
  readonly keep?: boolean
  /** `auto` (default): RGW when its binaries are installed, else s3rver; `none`: no object store. */
  readonly objectStore?: "auto" | "rgw" | "s3rver" | "none"
  /** Node agent settings (state dir and API server are the sandbox's). */
  readonly node?: Omit<NodeAgentOptions, "stateDir">
  /** The Job controller's Pod back-off (Kubernetes: 10 s). */
  readonly jobPodBackoff?: `${number} millis` | `${number} seconds`
  /**
   * Authenticate and authorize every API request with RBAC (default off: every request is the admin). The API
   * server then serves HTTPS (kubectl sends no token over HTTP), the kubeconfig is the admin's and trusts its CA,
   * the sandbox's controllers use it too, and Pods get real ServiceAccount tokens, so an operator Pod runs with
   * exactly the permissions its roles grant.
   */
  readonly rbac?: boolean
}

/** A running sandbox. */
export interface SandboxService {
  readonly stateDir: string
  readonly apiServerUrl: string
  /** A kubeconfig for the API server (written in the state dir). */
  readonly kubeconfig: string
  /** The object store, when one runs. */
  readonly objectStore: (S3Endpoint & { readonly bucket: string; readonly kind: "rgw" | "s3rver" }) | undefined
  /** Loopback block of the Pod IPs (`127.<block>.0.0/16`). */
  readonly addressBlock: number
}

export class Sandbox extends Context.Service<Sandbox, SandboxService>()("cnmysql/sandbox/Sandbox") {
  /** The sandbox; also exposes the store, the API server and the node agent for tests. */
  static readonly layer = (
    options: SandboxOptions = {}
  ): Layer.Layer<
    Sandbox | FakeCluster | FakeApiServer | NodeAgent | PodLogs | SandboxControllers,
    SandboxError | AddressBlockUnavailable | NodeAgentUnavailable
  > =>
    Layer.unwrap(
      Effect.gen(function* () {
        const stateDir = yield* Effect.acquireRelease(
          Effect.sync(() => {
            if (options.stateDir === undefined) return mkdtempSync(join(tmpdir(), "cloudnative-mysql-sandbox-"))
            mkdirSync(options.stateDir, { recursive: true })
            return options.stateDir
          }),
          (dir) =>
            Effect.sync(() => (options.keep === true ? undefined : rmSync(dir, { recursive: true, force: true })))
        )
        // the API server's TLS face, for in-cluster clients in Pods: its CA goes into every service-account volume
        const ca = yield* Effect.mapError(
          createCertificateAuthority({ commonName: "sandbox API server CA" }),
          (error) => new SandboxError({ message: `cannot create the API server CA: ${error.detail}` })
        )
        const certificate = yield* Effect.mapError(
          issueServerCertificate(ca, {
            commonName: "kube-apiserver",
            names: ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
          }),
          (error) => new SandboxError({ message: `cannot issue the API server certificate: ${error.detail}` })
        )
        const tlsPort = yield* freePort
        // the node agent comes before the API server (which serves its Pod logs), so its token requests wait
        // for the server here
        const apiServer = yield* Deferred.make<FakeApiServerService>()
        const serviceAccountToken = (request: ServiceAccountTokenRequest) =>
          Effect.flatMap(Deferred.await(apiServer), (server) =>
            server.issueToken(request.namespace, request.serviceAccount, {
              pod: request.pod.name,
              expirationSeconds: 3607
            })
          ).pipe(Effect.mapError((error) => ({ message: error.status.message })))
        return Layer.effect(Sandbox, make(stateDir, options)).pipe(
          Layer.provideMerge(controllersOn(stateDir, options)),
          Layer.provideMerge(
            Layer.effectDiscard(Effect.flatMap(FakeApiServer, (server) => Deferred.succeed(apiServer, server)))
          ),
          Layer.provideMerge(
            FakeApiServer.layerWith({
              // kubectl sends no bearer token over plain HTTP: with authentication the main face is HTTPS too
              tls: options.rbac === true,
              rbac: options.rbac === true,
              secureListener: { ...certificate, port: tlsPort }
            })
          ),
          Layer.provideMerge(
            NodeAgent.layer({
              caCertificate: ca.certificate,
              apiServer: { host: "127.0.0.1", port: tlsPort },
              ...(options.rbac === true ? { serviceAccountToken } : {}),
              ...options.node,
              stateDir
            })
          ),
          Layer.provideMerge(FakeCluster.layer)
        )
      })
    )
}

/** The controllers, talking to the API server through client-node like the real controller-manager. */
const controllersOn = (stateDir: string, options: SandboxOptions) =>
  SandboxControllers.layer({
    stateDirectory: stateDir,
    ...(options.jobPodBackoff === undefined ? {} : { jobPodBackoff: options.jobPodBackoff })
  }).pipe(
    Layer.provide(
      Layer.unwrap(
        Effect.gen(function* () {
          const server = yield* FakeApiServer
          const config = new KubeConfig()
          // the admin's token: with RBAC on the sandbox's controllers are the control plane, not a user of it
          config.loadFromString(kubeconfigYaml(server.url, "default", server.caCertificate, server.adminToken))
          return KubeApi.layerKubeConfig(config)
        })
      )
    )
  )

const rgwInstalled = (): boolean =>
  ["/usr/bin/radosgw", "/usr/bin/ceph-mon", "/usr/bin/ceph-osd"].every((path) => existsSync(path))

const startObjectStore = (stateDir: string, kind: "auto" | "rgw" | "s3rver") =>
  Effect.gen(function* () {
    const useRgw = kind === "rgw" || (kind === "auto" && rgwInstalled())
    if (useRgw) {
      const rgw = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => launchRgw(join(stateDir, "rgw")),
          catch: (cause) => new SandboxError({ message: cause instanceof Error ? cause.message : String(cause) })
        }),
        (launched) => Effect.promise(() => launched.stop())
      )
      const { endpoint, region, accessKey, secretKey } = rgw.endpoints
      return { kind: "rgw" as const, endpoint, region, accessKey, secretKey }
    }
    const server = yield* s3rver({ bucket: sandboxBucket }).pipe(
      Effect.mapError((error) => new SandboxError({ message: error.message }))
    )
    return {
      kind: "s3rver" as const,
      endpoint: server.endpoint,
      region: "us-east-1",
      accessKey: server.accessKey,
      secretKey: server.secretKey
    }
  })

const make = (stateDir: string, options: SandboxOptions) =>
  Effect.gen(function* () {
    const cluster = yield* FakeCluster
    const server = yield* FakeApiServer
    const node = yield* NodeAgent
    yield* (yield* SandboxControllers).synced
    const kubeconfig = yield* server.writeKubeconfig(join(stateDir, "kubeconfig"))
    const kind = options.objectStore ?? "auto"
    const store = kind === "none" ? undefined : yield* startObjectStore(stateDir, kind)
    if (store !== undefined) {
      if (store.kind === "rgw") {
        yield* Effect.tryPromise({
          try: () => createBucket(store, sandboxBucket),
          catch: (cause) =>
            new SandboxError({
              message: `cannot create bucket ${sandboxBucket}: ${cause instanceof Error ? cause.message : String(cause)}`
            })
        })
      }
      yield* Effect.mapError(
        cluster.create(
          { group: "", version: "v1", plural: "secrets", namespace: "default" },
          {
            metadata: { name: sandboxCredentialsSecret, namespace: "default" },
            type: "Opaque",
            stringData: { accessKey: store.accessKey, secretKey: store.secretKey }
          }
        ),
        (error) => new SandboxError({ message: error.status.message })
      )
    }
    return Sandbox.of({
      stateDir,
      apiServerUrl: server.url,
      kubeconfig,
      objectStore: store === undefined ? undefined : { ...store, bucket: sandboxBucket },
      addressBlock: node.addressBlock
    })
  })
