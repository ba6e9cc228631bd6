/**
 * The permissions a run of requests used, from the fake's audit log, in the keys of `permissionsOf`
 * (src/api/rbac.ts): what the "ClusterRole == what the controller calls" check compares the role with.
 *
 * @since 0.1.0
 */
import { permission } from "../api/rbac.ts"
import type { AuditEntry } from "./Store.ts"

/** Every `<verb> <group>/<resource>[/<subresource>]` the audited requests used (failed ones too: they were asked). */
export const permissionsUsed = (audit: ReadonlyArray<AuditEntry>): ReadonlySet<string> =>
  new Set(
    audit.map((entry) =>
      permission(
        entry.verb,
        entry.group,
        entry.subresource === "" ? entry.plural : `${entry.plural}/${entry.subresource}`
      )
    )
  )
