import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { loadKubeConfig } from "../../src/kube/kubeConfig.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "kubeconfig-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const kubeconfigYaml = (server: string) => `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: ${server}
    insecure-skip-tls-verify: true
users:
- name: me
  user:
    token: abc
contexts:
- name: fake
  context:
    cluster: fake
    user: me
current-context: fake
`

describe("loadKubeConfig", () => {
  it.effect("fails fast with KubeConfigMissing when there is no cluster, no KUBECONFIG and no ~/.kube/config", () =>
    Effect.gen(function* () {
      const home = yield* tempDir
      const error = yield* Effect.flip(loadKubeConfig({ env: { HOME: home }, root: home }))
      assert.strictEqual(error._tag, "KubeConfigMissing")
      assert.include(error.message, join(home, ".kube", "config"))
    })
  )

  it.effect("fails fast when KUBECONFIG names a file that does not exist", () =>
    Effect.gen(function* () {
      const home = yield* tempDir
      const error = yield* Effect.flip(
        loadKubeConfig({ env: { HOME: home, KUBECONFIG: join(home, "nope.yaml") }, root: home })
      )
      assert.strictEqual(error._tag, "KubeConfigMissing")
      assert.include(error.message, "nope.yaml")
    })
  )

  it.effect("fails fast when the kubeconfig's current context names no cluster", () =>
    Effect.gen(function* () {
      const home = yield* tempDir
      const file = join(home, "empty.yaml")
      writeFileSync(file, "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n")
      const error = yield* Effect.flip(loadKubeConfig({ env: { HOME: home, KUBECONFIG: file }, root: home }))
      assert.strictEqual(error._tag, "KubeConfigMissing")
    })
  )

  it.effect("reads KUBECONFIG first, then ~/.kube/config", () =>
    Effect.gen(function* () {
      const home = yield* tempDir
      mkdirSync(join(home, ".kube"))
      writeFileSync(join(home, ".kube", "config"), kubeconfigYaml("https://home.example:6443"))
      const explicit = join(home, "explicit.yaml")
      writeFileSync(explicit, kubeconfigYaml("https://explicit.example:6443"))
      const fromHome = yield* loadKubeConfig({ env: { HOME: home }, root: home })
      assert.strictEqual(fromHome.getCurrentCluster()?.server, "https://home.example:6443")
      const fromEnv = yield* loadKubeConfig({ env: { HOME: home, KUBECONFIG: explicit }, root: home })
      assert.strictEqual(fromEnv.getCurrentCluster()?.server, "https://explicit.example:6443")
    })
  )

  it.effect("uses the in-cluster service account when the pod environment has one", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const dir = join(root, "var/run/secrets/kubernetes.io/serviceaccount")
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, "token"), "token")
      writeFileSync(join(dir, "ca.crt"), "")
      writeFileSync(join(dir, "namespace"), "operators")
      // client-node's loadFromCluster reads the host and port from process.env itself
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          process.env.KUBERNETES_SERVICE_HOST = "10.0.0.1"
          process.env.KUBERNETES_SERVICE_PORT = "443"
        }),
        () =>
          Effect.sync(() => {
            delete process.env.KUBERNETES_SERVICE_HOST
            delete process.env.KUBERNETES_SERVICE_PORT
          })
      )
      const kc = yield* loadKubeConfig({ env: { HOME: root, KUBERNETES_SERVICE_HOST: "10.0.0.1" }, root })
      assert.strictEqual(kc.getCurrentCluster()?.server, "https://10.0.0.1:443")
    })
  )

  it.effect("KubeApi.layer fails with KubeConfigMissing instead of talking to localhost:8080", () =>
    Effect.gen(function* () {
      const home = yield* tempDir
      const saved = {
        HOME: process.env.HOME,
        KUBECONFIG: process.env.KUBECONFIG,
        HOST: process.env.KUBERNETES_SERVICE_HOST
      }
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          process.env.HOME = home
          delete process.env.KUBECONFIG
          delete process.env.KUBERNETES_SERVICE_HOST
        }),
        () =>
          Effect.sync(() => {
            for (const [key, value] of [
              ["HOME", saved.HOME],
              ["KUBECONFIG", saved.KUBECONFIG],
              ["KUBERNETES_SERVICE_HOST", saved.HOST]
            ] as const) {
              if (value === undefined) delete process.env[key]
              else process.env[key] = value
            }
          })
      )
      const error = yield* Effect.flip(Layer.build(KubeApi.layer))
      assert.strictEqual(error._tag, "KubeConfigMissing")
    })
  )
})
