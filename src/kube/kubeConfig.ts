/**
 * Finds the operator's Kubernetes credentials, in controller-runtime's order: `KUBECONFIG`, then the in-cluster
 * service account, then `~/.kube/config`. When none exists it fails with `KubeConfigMissing`: client-node's
 * `loadFromDefault` would instead talk to `http://localhost:8080` and every later call would fail obscurely.
 *
 * @since 0.1.0
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { KubeConfig } from "@kubernetes/client-node"
import { Effect } from "effect"
import { KubeConfigMissing } from "./errors.ts"

/** Where to look; the defaults are the process environment and the standard paths. */
export interface KubeConfigSources {
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Prefix of the service-account paths (`<root>/var/run/secrets/kubernetes.io/serviceaccount/token`); tests only. */
  readonly root?: string
}

/** Loads a `KubeConfig` or fails with `KubeConfigMissing`. */
export const loadKubeConfig = Effect.fn("KubeConfig.load")(function* (sources: KubeConfigSources = {}) {
  const env = sources.env ?? process.env
  const root = sources.root ?? ""
  const serviceAccountDir = `${root}/var/run/secrets/kubernetes.io/serviceaccount`
  const kc = new KubeConfig()
  const load = (what: string, f: () => void) =>
    Effect.try({
      try: f,
      catch: (cause) =>
        new KubeConfigMissing({ detail: `${what}: ${cause instanceof Error ? cause.message : String(cause)}` })
    })

  const kubeconfig = env.KUBECONFIG?.split(":").filter((file) => file.length > 0) ?? []
  const home = env.HOME
  const homeConfig = home === undefined || home === "" ? undefined : join(home, ".kube", "config")
  if (kubeconfig.length > 0) {
    const missing = kubeconfig.filter((file) => !existsSync(file))
    if (missing.length > 0) {
      return yield* new KubeConfigMissing({ detail: `KUBECONFIG names files that do not exist: ${missing.join(", ")}` })
    }
    yield* load(`KUBECONFIG=${env.KUBECONFIG}`, () => {
      kc.loadFromFile(kubeconfig[0] ?? "")
      for (const file of kubeconfig.slice(1)) {
        const more = new KubeConfig()
        more.loadFromFile(file)
        kc.mergeConfig(more)
      }
    })
  } else if (
    env.KUBERNETES_SERVICE_HOST !== undefined &&
    env.KUBERNETES_SERVICE_HOST !== "" &&
    existsSync(join(serviceAccountDir, "token"))
  ) {
    yield* load("in-cluster service account", () => kc.loadFromCluster(root))
  } else if (homeConfig !== undefined && existsSync(homeConfig)) {
    yield* load(homeConfig, () => kc.loadFromFile(homeConfig))
  } else {
    return yield* new KubeConfigMissing({
      detail: `not in a cluster (no KUBERNETES_SERVICE_HOST and ${serviceAccountDir}/token), KUBECONFIG is unset and ${homeConfig ?? "~/.kube/config"} does not exist`
    })
  }
  const cluster = kc.getCurrentCluster()
  if (cluster === null || cluster.server === "") {
    return yield* new KubeConfigMissing({
      detail: `the current context "${kc.getCurrentContext()}" names no cluster server`
    })
  }
  return kc
})
