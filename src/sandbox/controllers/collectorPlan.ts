/**
 * What the garbage collector does about a set of objects, pure (the rules of the garbage-collection concept
 * page, the same ones the store's step-by-step `gc()` applies):
 * - an owner being deleted with the `orphan` finalizer: its references are removed from every dependent,
 *   then the finalizer;
 * - an owner being deleted with `foregroundDeletion`: its dependents are deleted (foreground too), and the
 *   finalizer goes once no dependent with `blockOwnerDeletion: true` is left;
 * - a dependent whose owners are all gone is deleted (background); references to gone owners next to live
 *   ones are removed. "Gone" is only a suspicion here (an informer may not have seen a new owner yet): the
 *   collector confirms it with a live read before acting, as the real one does.
 *
 * @since 0.1.0
 */
import type { KubeObject } from "../../kube/resources.ts"
import type { OwnerRef } from "./informer.ts"

/** An object with the descriptor key of its kind (`apiVersion/kind`). */
export interface Node {
  readonly kind: string
  readonly object: KubeObject
}

/** One thing the collector does. */
export type CollectorAction =
  | { readonly type: "orphan"; readonly owner: Node; readonly dependents: ReadonlyArray<Node> }
  | {
      readonly type: "foreground"
      readonly owner: Node
      /** Dependents not yet being deleted: delete them (foreground). */
      readonly remove: ReadonlyArray<Node>
      /** A dependent with `blockOwnerDeletion` still exists: keep the finalizer. */
      readonly blocked: boolean
    }
  | { readonly type: "dangling"; readonly dependent: Node; readonly missing: ReadonlyArray<OwnerRef> }

interface Meta {
  readonly uid?: string
  readonly deletionTimestamp?: string
  readonly finalizers?: ReadonlyArray<string>
  readonly ownerReferences?: ReadonlyArray<OwnerRef>
}

/** The metadata fields the collector reads. */
export const metaOf = (object: KubeObject): Meta => (object.metadata ?? {}) as Meta

/** Plans one pass over every object the collector knows. */
export const planCollection = (nodes: ReadonlyArray<Node>): ReadonlyArray<CollectorAction> => {
  const byUid = new Map<string, Node>()
  const dependents = new Map<string, Array<Node>>()
  for (const node of nodes) {
    const meta = metaOf(node.object)
    if (meta.uid !== undefined) byUid.set(meta.uid, node)
    for (const ref of meta.ownerReferences ?? []) {
      const list = dependents.get(ref.uid) ?? []
      list.push(node)
      dependents.set(ref.uid, list)
    }
  }
  const actions: Array<CollectorAction> = []
  for (const node of nodes) {
    const meta = metaOf(node.object)
    const uid = meta.uid ?? ""
    const deleting = meta.deletionTimestamp !== undefined
    const finalizers = meta.finalizers ?? []
    const mine = dependents.get(uid) ?? []
    if (deleting && finalizers.includes("orphan")) {
      actions.push({ type: "orphan", owner: node, dependents: mine })
      continue
    }
    if (deleting && finalizers.includes("foregroundDeletion")) {
      const blocked = mine.some(
        (dependent) =>
          metaOf(dependent.object).ownerReferences?.find((ref) => ref.uid === uid)?.blockOwnerDeletion === true
      )
      const remove = mine.filter((dependent) => metaOf(dependent.object).deletionTimestamp === undefined)
      actions.push({ type: "foreground", owner: node, remove, blocked })
      continue
    }
    if (deleting) continue
    const missing = (meta.ownerReferences ?? []).filter((ref) => {
      const owner = byUid.get(ref.uid)
      // a namespaced owner must live in the dependent's namespace; elsewhere it does not count
      return (
        owner === undefined ||
        (owner.object.metadata?.namespace !== undefined &&
          owner.object.metadata.namespace !== node.object.metadata?.namespace)
      )
    })
    if (missing.length > 0) actions.push({ type: "dangling", dependent: node, missing })
  }
  return actions
}
