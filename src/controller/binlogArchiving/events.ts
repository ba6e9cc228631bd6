/**
 * The Events of the archiver step, recorded on the Cluster.
 *
 * @since 0.2.0
 */
import type { EventSpec } from "../Events.ts"

const normal = <Args>(reason: string, message: (args: Args) => string): EventSpec<Args> => ({
  type: "Normal",
  reason,
  message
})

/** Every Event of the archiver step. */
export const archiverEvents = {
  started: normal<{ readonly deployment: string }>(
    "BinlogArchiverCreated",
    ({ deployment }) => `created Deployment ${deployment} to archive the primary's binlogs`
  ),
  updated: normal<{ readonly deployment: string }>(
    "BinlogArchiverUpdated",
    ({ deployment }) => `replaced Deployment ${deployment}: its configuration changed`
  ),
  stopped: normal<{ readonly deployment: string }>(
    "BinlogArchiverDeleted",
    ({ deployment }) => `deleted Deployment ${deployment}: binlog archiving is disabled (the archive is kept)`
  )
} as const
