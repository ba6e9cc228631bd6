/**
 * Deployment and ReplicaSet controller conformance, through the fake API server's HTTP face with the real
 * `kubectl` (`apply`, `rollout status`, `set image`, `scale`); a background fiber plays the kubelet and
 * reports every new Pod ready.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { KubeApi } from "../../../src/kube/KubeApi.ts"
import { type Deployment, Kinds, type ReplicaSet } from "../../../src/sandbox/controllers/kinds.ts"
import { controllerTest, eventually, kubectl, kubeletReadiesPods, podsIn } from "./support.ts"

const DEPLOYMENTS = "https://kubernetes.io/docs/concepts/workloads/controllers/deployment/"
const REPLICASETS = "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/"

const manifest = (strategy: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  strategy:
    type: ${strategy}
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: ghcr.io/cloudnative-mysql/operator:1.0
`

const apply = (directory: string, strategy = "RollingUpdate") =>
  Effect.gen(function* () {
    const file = join(directory, "web.yaml")
    writeFileSync(file, manifest(strategy))
    const run = yield* kubectl("apply", "-f", file)
    assert.strictEqual(run.code, 0, run.stderr)
  })

const rolledOut = Effect.gen(function* () {
  const run = yield* kubectl("rollout", "status", "deployment/web", "--timeout=30s")
  assert.strictEqual(run.code, 0, run.stderr)
  assert.match(run.stdout, /deployment "web" successfully rolled out/)
})

const replicaSets = Effect.flatMap(KubeApi, (api) =>
  Effect.map(api.list(Kinds.replicaSets, { namespace: "default" }), (list) => list.items)
)

const getDeployment = Effect.flatMap(KubeApi, (api) =>
  api.get(Kinds.deployments, { namespace: "default", name: "web" })
)

const activePods = Effect.map(podsIn("default", "app=web"), (pods) =>
  pods.filter((pod) => pod.metadata.deletionTimestamp === undefined)
)

const size = (replicaSet: ReplicaSet) => replicaSet.spec?.replicas ?? 0

describe("Deployment and ReplicaSet controllers", () => {
  it.live(`${DEPLOYMENTS}#creating-a-deployment: Deployment → ReplicaSet → Pods; kubectl rollout status succeeds`, () =>
    controllerTest((directory) =>
      Effect.gen(function* () {
        yield* kubeletReadiesPods("default")
        yield* apply(directory)
        yield* rolledOut
        const [replicaSet, ...others] = yield* replicaSets
        assert.strictEqual(others.length, 0)
        const hash = replicaSet?.metadata.labels?.["pod-template-hash"] ?? ""
        assert.match(hash, /^[bcdfghjklmnpqrstvwxz2456789]+$/)
        assert.strictEqual(replicaSet?.metadata.name, `web-${hash}`)
        assert.deepStrictEqual(replicaSet?.spec?.selector.matchLabels, { app: "web", "pod-template-hash": hash })
        assert.strictEqual(replicaSet?.metadata.ownerReferences?.[0]?.kind, "Deployment")
        assert.strictEqual(replicaSet?.metadata.annotations?.["deployment.kubernetes.io/revision"], "1")
        const pods = yield* activePods
        assert.strictEqual(pods.length, 2)
        for (const pod of pods) {
          assert.match(pod.metadata.name ?? "", new RegExp(`^web-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`))
          assert.strictEqual(pod.metadata.labels?.["pod-template-hash"], hash)
          assert.strictEqual(pod.metadata.ownerReferences?.[0]?.name, `web-${hash}`)
        }
        const deployment: Deployment = yield* getDeployment
        assert.deepInclude(deployment.status ?? {}, {
          observedGeneration: deployment.metadata.generation ?? 0,
          replicas: 2,
          updatedReplicas: 2,
          readyReplicas: 2,
          availableReplicas: 2,
          unavailableReplicas: 0
        })
        assert.deepStrictEqual(
          (deployment.status?.conditions ?? []).map((condition) => [
            condition.type,
            condition.status,
            condition.reason
          ]),
          [
            ["Available", "True", "MinimumReplicasAvailable"],
            ["Progressing", "True", "NewReplicaSetAvailable"]
          ]
        )
        const listed = yield* kubectl("get", "deployment", "web")
        assert.match(listed.stdout, /web\s+2\s+2\s+2/)
      })
    )
  )

  it.live(`${REPLICASETS}#how-a-replicaset-works: a Pod deleted under a Deployment is recreated`, () =>
    controllerTest((directory) =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        yield* kubeletReadiesPods("default")
        yield* apply(directory)
        yield* rolledOut
        const [victim] = yield* activePods
        yield* api.delete(Kinds.pods, { namespace: "default", name: victim?.metadata.name ?? "" })
        const pods = yield* eventually(
          "a replacement Pod",
          Effect.map(activePods, (pods) =>
            pods.length === 2 && pods.every((pod) => pod.metadata.name !== victim?.metadata.name) ? pods : undefined
          )
        )
        assert.strictEqual(pods.length, 2)
        yield* rolledOut
        const described = yield* kubectl("describe", "replicaset")
        assert.match(described.stdout, /Normal\s+SuccessfulCreate\s+.*Created pod: web-/)
      })
    )
  )

  it.live(
    `${DEPLOYMENTS}#updating-a-deployment: a template change rolls (RollingUpdate) to a new ReplicaSet; the old one ends at 0`,
    () =>
      controllerTest((directory) =>
        Effect.gen(function* () {
          yield* kubeletReadiesPods("default")
          yield* apply(directory)
          yield* rolledOut
          const [first] = yield* replicaSets
          const set = yield* kubectl("set", "image", "deployment/web", "web=ghcr.io/cloudnative-mysql/operator:1.1")
          assert.strictEqual(set.code, 0, set.stderr)
          yield* rolledOut
          const all = yield* replicaSets
          assert.strictEqual(all.length, 2)
          const old = all.find((replicaSet) => replicaSet.metadata.name === first?.metadata.name)
          const next = all.find((replicaSet) => replicaSet.metadata.name !== first?.metadata.name)
          assert.strictEqual(old === undefined ? -1 : size(old), 0)
          assert.strictEqual(next === undefined ? -1 : size(next), 2)
          assert.strictEqual(next?.metadata.annotations?.["deployment.kubernetes.io/revision"], "2")
          const pods = yield* eventually(
            "only new Pods",
            Effect.map(activePods, (pods) =>
              pods.length === 2 && pods.every((pod) => String(pod.spec?.containers[0]?.image).endsWith(":1.1"))
                ? pods
                : undefined
            )
          )
          assert.strictEqual(pods.length, 2)
          assert.strictEqual((yield* getDeployment).metadata.annotations?.["deployment.kubernetes.io/revision"], "2")
        })
      )
  )

  it.live(`${DEPLOYMENTS}#recreate-deployment: Recreate removes every old Pod before the new ReplicaSet starts`, () =>
    controllerTest((directory) =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        yield* kubeletReadiesPods("default")
        yield* apply(directory, "Recreate")
        yield* rolledOut
        const before = (yield* activePods).map((pod) => pod.metadata.name)
        // watch the Pods: at no time may an old and a new Pod be active together
        let overlap = false
        const observer = yield* Effect.forkScoped(
          Effect.forever(
            Effect.gen(function* () {
              const pods = yield* activePods
              const hashes = new Set(pods.map((pod) => pod.metadata.labels?.["pod-template-hash"]))
              if (hashes.size > 1) overlap = true
              yield* Effect.sleep("10 millis")
            })
          )
        )
        yield* api.patch(
          Kinds.deployments,
          { namespace: "default", name: "web" },
          {
            spec: { template: { metadata: { annotations: { restartedAt: "now" } } } }
          }
        )
        yield* Effect.sleep("200 millis")
        yield* rolledOut
        yield* Fiber.interrupt(observer)
        const after = yield* activePods
        assert.strictEqual(after.length, 2)
        assert.isTrue(after.every((pod) => !before.includes(pod.metadata.name)))
        assert.isFalse(overlap, "old and new Pods ran at the same time")
      })
    )
  )

  it.live(`${DEPLOYMENTS}#scaling-a-deployment: kubectl scale changes the ReplicaSet and the Pod count`, () =>
    controllerTest((directory) =>
      Effect.gen(function* () {
        yield* kubeletReadiesPods("default")
        yield* apply(directory)
        yield* rolledOut
        const scaled = yield* kubectl("scale", "deployment/web", "--replicas=3")
        assert.strictEqual(scaled.code, 0, scaled.stderr)
        yield* eventually(
          "3 Pods",
          Effect.map(activePods, (pods) => (pods.length === 3 ? pods : undefined))
        )
        yield* rolledOut
        const down = yield* kubectl("scale", "deployment/web", "--replicas=1")
        assert.strictEqual(down.code, 0, down.stderr)
        yield* eventually(
          "1 Pod",
          Effect.map(activePods, (pods) => (pods.length === 1 ? pods : undefined))
        )
        yield* rolledOut
        assert.strictEqual((yield* getDeployment).status?.availableReplicas, 1)
      })
    )
  )
})
