/**
 * The Deployment controller's arithmetic, pure: maxSurge/maxUnavailable resolution and bounds (with a property
 * test), the template hash, and the progress deadline.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import type { Deployment, ReplicaSet } from "../../../src/sandbox/controllers/kinds.ts"
import {
  bounds,
  deploymentStatus,
  resolveIntOrPercent,
  rollingNewSize,
  rollingOldSizes,
  sameTemplate,
  templateHash
} from "../../../src/sandbox/controllers/rollout.ts"

const ROLLING = "https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-update-deployment"

const template = (image: string) => ({
  metadata: { labels: { app: "web" } },
  spec: { containers: [{ name: "web", image }] }
})

const deployment = (
  replicas: number,
  maxSurge: number | string,
  maxUnavailable: number | string,
  progressDeadlineSeconds = 600
): Deployment => ({
  metadata: { name: "web" },
  spec: {
    replicas,
    progressDeadlineSeconds,
    selector: { matchLabels: { app: "web" } },
    template: template("v2"),
    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge, maxUnavailable } }
  }
})

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const replicaSet = (name: string, replicas: number, available: number, created: string): ReplicaSet => ({
  metadata: { name, creationTimestamp: created },
  spec: { replicas, selector: { matchLabels: { app: "web" } }, template: template(name) },
  status: { replicas, availableReplicas: available }
})

describe("rolling update arithmetic", () => {
  it(`${ROLLING}: percentages resolve as the API documents (surge rounds up, unavailable down; never both 0)`, () => {
    assert.strictEqual(resolveIntOrPercent("25%", 10, true), 3)
    assert.strictEqual(resolveIntOrPercent("25%", 10, false), 2)
    assert.strictEqual(resolveIntOrPercent(2, 10, false), 2)
    assert.deepStrictEqual(bounds(deployment(1, "25%", "25%")), { maxSurge: 1, maxUnavailable: 0 })
    assert.deepStrictEqual(bounds(deployment(4, 0, 0)), { maxSurge: 0, maxUnavailable: 1 })
  })

  it(`${ROLLING}: the new ReplicaSet grows within replicas + maxSurge; old ones shrink keeping replicas − maxUnavailable available`, () => {
    const spec = deployment(4, 1, 1)
    const old = replicaSet("old", 4, 4, "2026-01-01T00:00:00Z")
    const fresh = replicaSet("new", 0, 0, "2026-01-02T00:00:00Z")
    assert.strictEqual(rollingNewSize(spec, fresh, [old, fresh]), 1, "4 + 1 surge − 4 running")
    const grown = { ...fresh, spec: { ...fresh.spec, replicas: 1 } } as ReplicaSet
    assert.strictEqual(
      rollingOldSizes(spec, grown, [old]).get("old"),
      3,
      "5 total, 3 must stay available, the new one is unavailable"
    )
    const ready = { ...grown, status: { replicas: 1, availableReplicas: 1 } } as ReplicaSet
    assert.strictEqual(
      rollingOldSizes(spec, ready, [{ ...old, spec: { ...old.spec, replicas: 3 } } as ReplicaSet]).get("old"),
      2
    )
  })

  it.effect.prop(
    `${ROLLING}: whatever the sizes, a step never drops availability below replicas − maxUnavailable`,
    { replicas: between(1, 10), surge: between(0, 3), unavailable: between(0, 3), newSize: between(0, 10) },
    ({ replicas, surge, unavailable, newSize }) =>
      Effect.sync(() => {
        const spec = deployment(replicas, surge, unavailable)
        const { maxUnavailable } = bounds(spec)
        const fresh = replicaSet("new", Math.min(newSize, replicas), 0, "2026-01-02T00:00:00Z")
        const old = replicaSet("old", replicas, replicas, "2026-01-01T00:00:00Z")
        const sizes = rollingOldSizes(spec, fresh, [old])
        const availableAfter = Math.min(sizes.get("old") ?? 0, replicas)
        assert.isAtLeast(availableAfter, Math.min(replicas, replicas - maxUnavailable))
        assert.isAtMost(rollingNewSize(spec, fresh, [old, fresh]), replicas)
      })
  )

  it(`https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#failed-deployment: no progress for progressDeadlineSeconds is ProgressDeadlineExceeded`, () => {
    const stuck = replicaSet("web-new", 2, 0, "2026-01-02T00:00:00Z")
    const spec: Deployment = {
      ...deployment(2, 1, 0, 60),
      metadata: { name: "web", generation: 2 },
      status: {
        replicas: 2,
        updatedReplicas: 2,
        readyReplicas: 0,
        availableReplicas: 0,
        conditions: [
          {
            type: "Progressing",
            status: "True",
            reason: "ReplicaSetUpdated",
            lastUpdateTime: "2026-01-01T00:00:00Z",
            lastTransitionTime: "2026-01-01T00:00:00Z"
          }
        ]
      }
    }
    const at = (seconds: number) => Date.parse("2026-01-01T00:00:00Z") + seconds * 1000
    const early = deploymentStatus(spec, stuck, [stuck], false, "2026-01-01T00:00:30Z", at(30))
    assert.strictEqual(early.status.conditions[1]?.status, "True")
    assert.isAbove(early.waitMillis ?? 0, 30_000)
    const late = deploymentStatus(spec, stuck, [stuck], false, "2026-01-01T00:01:01Z", at(61))
    assert.deepInclude(late.status.conditions[1] ?? {}, { status: "False", reason: "ProgressDeadlineExceeded" })
    assert.deepInclude(late.status.conditions[0] ?? {}, { type: "Available", status: "False" })
  })

  it("the pod-template-hash ignores the hash label and changes with the template", () => {
    const a = template("v1")
    const labelled = { ...a, metadata: { labels: { app: "web", "pod-template-hash": templateHash(a) } } }
    assert.strictEqual(templateHash(labelled), templateHash(a))
    assert.isTrue(sameTemplate(labelled, a))
    assert.notStrictEqual(templateHash(template("v2")), templateHash(a))
    assert.match(templateHash(a), /^[bcdfghjklmnpqrstvwxz2456789]+$/)
  })
})
