/**
 * MariaDB GTID positions as values: a position maps each replication domain to its last GTID (server id and
 * sequence number). Positions are compared per domain by sequence number, which strict mode keeps increasing
 * within a domain; the server id only says who wrote it.
 *
 * @since 0.2.0
 */

/** The last GTID of one domain. */
export interface DomainGtid {
  readonly server: number
  readonly seq: bigint
}

/** A GTID position: domain → its last GTID. */
export type GtidPosition = ReadonlyMap<number, DomainGtid>

/** Parses a GTID list already validated by `GtidList` (`0-1-14,1-2-3`; '' is empty). */
export const parseGtidList = (text: string): GtidPosition => {
  const position = new Map<number, DomainGtid>()
  if (text === "") return position
  for (const gtid of text.split(",")) {
    const [domain, server, seq] = gtid.split("-") as [string, string, string]
    position.set(Number(domain), { server: Number(server), seq: BigInt(seq) })
  }
  return position
}

/** The GTID list of a position, domains in ascending order (the server's own spelling). */
export const formatGtidList = (position: GtidPosition): string =>
  [...position.entries()]
    .sort(([a], [b]) => a - b)
    .map(([domain, { server, seq }]) => `${domain}-${server}-${seq}`)
    .join(",")

const seqOf = (position: GtidPosition, domain: number): bigint => position.get(domain)?.seq ?? 0n

/** Whether `a` includes every transaction `b` does (per domain, `a`'s sequence number is at least `b`'s). */
export const includes = (a: GtidPosition, b: GtidPosition): boolean =>
  [...b.entries()].every(([domain, { seq }]) => seqOf(a, domain) >= seq)

/** Whether two positions name the same transactions. */
export const samePosition = (a: GtidPosition, b: GtidPosition): boolean => includes(a, b) && includes(b, a)

/** The domains in which `after` holds transactions that `before` does not. */
export const advancedDomains = (before: GtidPosition, after: GtidPosition): ReadonlyArray<number> =>
  [...after.entries()].flatMap(([domain, { seq }]) => (seq > seqOf(before, domain) ? [domain] : []))

/** `base` with `over`'s entries replacing or adding domains. */
export const mergePositions = (base: GtidPosition, over: GtidPosition): GtidPosition =>
  new Map([...base.entries(), ...over.entries()])
