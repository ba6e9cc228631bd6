/**
 * The GTID-state arithmetic that chains archived binlog files, chooses a base backup and checks a replay, once
 * per flavour: MariaDB GTID positions (`gtid.ts`, the last sequence number per domain) and MySQL 8.4 GTID sets
 * (`gtidSet.ts`, intervals per server uuid). The recovery plan, the archive's gap-free runs and the
 * recoverability window are written once over this record; each `Flavor` carries its own
 * (`src/instance/flavor.ts`).
 *
 * A "source" is what a state is kept per: a MariaDB domain, a MySQL server uuid (with its tag, if any).
 *
 * @since 0.2.0
 */
import {
  advancedDomains,
  formatGtidList,
  type GtidPosition,
  includes,
  mergePositions,
  parseGtidList,
  samePosition
} from "./gtid.ts"
import { formatGtidSet, type GtidSet, includesSet, parseGtidSet, subtract, union } from "./gtidSet.ts"

/**
 * Operations on one flavour's GTID states. Method signatures on purpose: `GtidStates<GtidSet>` then serves
 * where `GtidStates<unknown>` is declared (the `Flavor` record), and code written over `<S>` stays typed.
 */
export interface GtidStates<S> {
  /** The state's text as the server prints it; `undefined` when it is not one of this flavour. */
  parse(text: string): S | undefined
  /** The canonical text ('' for the empty state). */
  format(state: S): string
  /** Whether `a` holds every transaction of `b`. */
  includes(a: S, b: S): boolean
  /** Whether `a` and `b` name the same transactions. */
  same(a: S, b: S): boolean
  /**
   * The state after replaying a file that ends at `after` from `current`: a MariaDB position moves to the
   * file's end; a MySQL set keeps what it held and adds the file's transactions.
   */
  advance(current: S, after: S): S
  /** The sources in which `after` holds transactions that `before` does not, sorted. */
  advancedSources(before: S, after: S): ReadonlyArray<string>
  /** The sources a state names. */
  sources(state: S): ReadonlySet<string>
  /**
   * Whether a backup ending at `end` can be the base of a recovery to `target`. MariaDB: no domain the target
   * names is past it (other domains are independent streams). MySQL: the target holds every transaction of the
   * backup, because a set names the whole history and a failover's new uuid continues the old one's.
   */
  endsBefore(end: S, target: S): boolean
  /** The state a replay from `start` to the GTID target `target` ends at (checked after the replay). */
  stopState(start: S, target: S): S
  /** How many transactions a state holds: along one history it only grows (orders files). */
  size(state: S): bigint
  /** How messages name a source: `domain` / `source`. */
  readonly sourceNoun: string
  /**
   * Whether the file in which a GTID target is reached may hold transactions of sources the target does not
   * name. MariaDB: no, `--stop-position` drops an unnamed domain from every file, so the plan refuses. MySQL:
   * yes, the target is the whole set and `--include-gtids` leaves the rest out. In a single-primary history
   * those transactions follow the target's: a failover's new primary writes the old primary's replicated
   * transactions first, then its own. Earlier files holding them are still refused: their transactions
   * precede the target's, so a target without them was never a state of the history.
   */
  readonly lastFileMayHoldUnnamedSources: boolean
  /**
   * The SQL expression of the uuid the server writes its own transactions under, the manifest's `serverUuid`:
   * MySQL's `@@server_uuid`. `undefined` for MariaDB, which has no server uuid: its GTIDs carry the
   * `server_id`, which every manifest records as `serverId`.
   */
  readonly serverUuidExpression: string | undefined
}

const seqOf = (position: GtidPosition, domain: number): bigint => position.get(domain)?.seq ?? 0n

/** MariaDB: one last GTID per domain; the plan's behaviour from before MySQL was added, unchanged. */
export const mariadbGtidStates: GtidStates<GtidPosition> = {
  parse: (text) => (/^$|^\d+-\d+-\d+(,\d+-\d+-\d+)*$/u.test(text) ? parseGtidList(text) : undefined),
  format: formatGtidList,
  includes,
  same: samePosition,
  advance: (_current, after) => after,
  advancedSources: (before, after) =>
    advancedDomains(before, after)
      .toSorted((a, b) => a - b)
      .map(String),
  sources: (state) => new Set([...state.keys()].map(String)),
  endsBefore: (end, target) => [...target.keys()].every((d) => seqOf(end, d) <= seqOf(target, d)),
  stopState: mergePositions,
  size: (state) => [...state.values()].reduce((sum, gtid) => sum + gtid.seq, 0n),
  sourceNoun: "domain",
  lastFileMayHoldUnnamedSources: false,
  serverUuidExpression: undefined
}

/** MySQL 8.4: GTID sets; a target set names exactly the transactions the recovered server holds. */
export const mysqlGtidStates: GtidStates<GtidSet> = {
  parse: parseGtidSet,
  format: formatGtidSet,
  includes: includesSet,
  same: (a, b) => includesSet(a, b) && includesSet(b, a),
  advance: union,
  advancedSources: (before, after) => [...subtract(after, before).keys()].toSorted(),
  sources: (state) => new Set(state.keys()),
  endsBefore: (end, target) => includesSet(target, end),
  stopState: union,
  size: (state) =>
    [...state.values()].reduce(
      (sum, intervals) => intervals.reduce((total, [first, last]) => total + last - first + 1n, sum),
      0n
    ),
  sourceNoun: "source",
  lastFileMayHoldUnnamedSources: true,
  serverUuidExpression: "@@server_uuid"
}
