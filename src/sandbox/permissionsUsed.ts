/**
 * The permissions one identity used, from the fake API server's log of allowed requests (`server.allowed`), in
 * the keys of `permissionsOf` (src/api/rbac.ts): what the "the operator's roles grant exactly what its code calls"
 * test compares the roles with. Denied requests are in `server.denials`, which that test expects empty.
 *
 * @since 0.1.0
 */
import { permission } from "../api/rbac.ts"
import type { Access } from "./apiAccess.ts"

/** Every `<verb> <group>/<resource>[/<subresource>]` of `user`'s resource requests (non-resource paths aside). */
export const permissionsUsed = (log: ReadonlyArray<Access>, user: string): ReadonlySet<string> =>
  new Set(
    log
      .filter((entry) => entry.user === user && entry.resource !== "")
      .map((entry) =>
        permission(
          entry.verb,
          entry.apiGroup,
          entry.subresource === "" ? entry.resource : `${entry.resource}/${entry.subresource}`
        )
      )
  )

/** The permissions `user` used in `namespace` only (a namespaced Role's share of them). */
export const permissionsUsedIn = (log: ReadonlyArray<Access>, user: string, namespace: string): ReadonlySet<string> =>
  permissionsUsed(
    log.filter((entry) => entry.namespace === namespace),
    user
  )
