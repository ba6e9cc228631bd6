/**
 * The garbage collector's plan, pure: which owners are orphaned or deleted in the foreground, which dependents
 * are dangling.
 */
import { assert, describe, it } from "@effect/vitest"
import { planCollection } from "../../../src/sandbox/controllers/collectorPlan.ts"

describe("garbage collector plan", () => {
  const object = (uid: string, extra: Record<string, unknown> = {}) => ({
    metadata: { uid, name: uid, namespace: "ns", ...extra }
  })
  const ref = (uid: string, blockOwnerDeletion = false) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    name: uid,
    uid,
    blockOwnerDeletion
  })

  it("https://kubernetes.io/docs/concepts/architecture/garbage-collection/: orphan, foreground (blocked or not) and dangling actions", () => {
    const nodes = [
      { kind: "v1/ConfigMap", object: object("orphaner", { deletionTimestamp: "t", finalizers: ["orphan"] }) },
      { kind: "v1/ConfigMap", object: object("a", { ownerReferences: [ref("orphaner")] }) },
      { kind: "v1/ConfigMap", object: object("fg", { deletionTimestamp: "t", finalizers: ["foregroundDeletion"] }) },
      { kind: "v1/ConfigMap", object: object("b", { ownerReferences: [ref("fg", true)] }) },
      { kind: "v1/ConfigMap", object: object("c", { ownerReferences: [ref("gone")] }) },
      { kind: "v1/ConfigMap", object: { metadata: { uid: "elsewhere", name: "x", namespace: "other" } } },
      { kind: "v1/ConfigMap", object: object("d", { ownerReferences: [ref("elsewhere")] }) }
    ]
    const actions = planCollection(nodes)
    const summary = actions.map((action) =>
      action.type === "orphan"
        ? ["orphan", action.dependents.map((node) => node.object.metadata?.name)]
        : action.type === "foreground"
          ? ["foreground", action.remove.map((node) => node.object.metadata?.name), action.blocked]
          : ["dangling", action.dependent.object.metadata?.name]
    )
    assert.deepStrictEqual(summary, [
      ["orphan", ["a"]],
      ["foreground", ["b"], true],
      ["dangling", "c"],
      ["dangling", "d"]
    ])
  })
})
