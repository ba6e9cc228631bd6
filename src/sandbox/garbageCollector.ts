/**
 * The garbage collector of kube-controller-manager, as an explicit step tests call (`FakeCluster.gc`),
 * following the garbage-collection concept page:
 * - `orphan` finalizer: strip the owner's reference from every dependent, then drop the finalizer;
 * - `foregroundDeletion` finalizer: delete the dependents (foreground, recursively) and drop the finalizer
 *   once no dependent with `blockOwnerDeletion: true` is left;
 * - dependents whose owners are all gone are deleted (background); references to gone owners next to live
 *   ones are removed. An owner in another namespace counts as gone, as the real collector treats it.
 *
 * @since 0.1.0
 */

import type { ServedKind } from "./resources.ts"
import type { Store } from "./Store.ts"
import { cloneJson, metaOf, type OwnerReference, type StoredObject, stringsAt } from "./StoredObject.ts"

interface Entry {
  readonly type: ServedKind
  readonly object: StoredObject
}

/** The owner an ownerReference points at, if it exists and may own the dependent. */
const ownerOf = (store: Store, dependent: StoredObject, ref: OwnerReference): StoredObject | undefined => {
  const owner = store.byUid(ref.uid)
  if (owner === undefined) return undefined
  if (owner.type.namespaced && owner.object.metadata.namespace !== dependent.metadata.namespace) return undefined
  return owner.object
}

const pass = (store: Store, now: number): number => {
  let writes = 0
  const all = store.entries()
  const current = ({ type, object }: Entry) =>
    store.current(type, object.metadata.namespace, object.metadata.name ?? "")
  // Owner uid → dependents, built once per pass; entries are re-read before use since the pass writes.
  const dependents = new Map<string, Array<Entry>>()
  for (const entry of all) {
    for (const ref of entry.object.metadata.ownerReferences ?? []) {
      const list = dependents.get(ref.uid) ?? []
      list.push(entry)
      dependents.set(ref.uid, list)
    }
  }
  const dependentsOf = (uid: string): Array<Entry> =>
    (dependents.get(uid) ?? []).flatMap((entry) => {
      const object = current(entry)
      return object !== undefined && (object.metadata.ownerReferences ?? []).some((ref) => ref.uid === uid)
        ? [{ type: entry.type, object }]
        : []
    })
  const update = (entry: Entry, change: (meta: Record<string, unknown>) => void) => {
    store.updateWith(entry.type, entry.object.metadata.namespace, entry.object.metadata.name ?? "", "", (copy) => {
      change(metaOf(copy))
      return copy
    })
    writes++
  }
  const removeFinalizer = (entry: Entry, finalizer: string) =>
    update(entry, (meta) => {
      meta.finalizers = stringsAt(meta, "finalizers").filter((item) => item !== finalizer)
    })

  for (const entry of all) {
    const object = current(entry)
    if (object === undefined) continue
    const live = { type: entry.type, object }
    const uid = object.metadata.uid ?? ""
    const finalizers = object.metadata.finalizers ?? []
    const deleting = object.metadata.deletionTimestamp !== undefined
    if (deleting && finalizers.includes("orphan")) {
      for (const dependent of dependentsOf(uid)) {
        update(dependent, (meta) => {
          const refs = (dependent.object.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== uid)
          if (refs.length === 0) delete meta.ownerReferences
          else meta.ownerReferences = cloneJson(refs)
        })
      }
      removeFinalizer(live, "orphan")
      continue
    }
    if (deleting && finalizers.includes("foregroundDeletion")) {
      let blocking = 0
      for (const dependent of dependentsOf(uid)) {
        if (dependent.object.metadata.deletionTimestamp === undefined) {
          writes++
          if (store.deleteWith(dependent.type, dependent.object, "Foreground", now).deleted) continue
        }
        const ref = dependent.object.metadata.ownerReferences?.find((item) => item.uid === uid)
        if (ref?.blockOwnerDeletion === true) blocking++
      }
      if (blocking === 0) removeFinalizer(live, "foregroundDeletion")
      continue
    }
    const refs = object.metadata.ownerReferences ?? []
    if (refs.length === 0 || deleting) continue
    const owners = refs.map((ref) => ({ ref, owner: ownerOf(store, object, ref) }))
    const dangling = owners.filter(({ owner }) => owner === undefined)
    if (dangling.length === refs.length) {
      store.deleteWith(entry.type, object, "Background", now)
      writes++
    } else if (dangling.length > 0) {
      update(live, (meta) => {
        meta.ownerReferences = cloneJson(owners.filter(({ owner }) => owner !== undefined).map(({ ref }) => ref))
      })
    }
  }
  return writes
}

/** Runs collector passes until one makes no write; returns the number of writes. */
export const collectGarbage = (store: Store, now: number): number =>
  store.asSystem(() => {
    let total = 0
    for (;;) {
      const writes = pass(store, now)
      total += writes
      if (writes === 0) return total
    }
  })
