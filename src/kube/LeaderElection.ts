/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with client-go's rules, so that of several operator
 * replicas exactly one reconciles:
 *
 * - A replica acquires the Lease when it does not exist, when it names no holder, or when its record has not
 *   changed for `leaseDuration` as measured on this replica's own clock (observing the record, not trusting
 *   the holder's `renewTime`, makes clock skew between nodes harmless).
 * - Every write is a PUT carrying the resourceVersion that was read, so two candidates racing for an expired
 *   Lease cannot both win: the second gets `Conflict`.
 * - The leader renews every `retryPeriod`; when it cannot renew for `renewDeadline` (< `leaseDuration`) it
 *   stops its work before anyone else may take over.
 * - On shutdown the leader releases the Lease (empty holder), so a successor need not wait for expiry.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Duration, Effect, Exit, Fiber, Option, Random, Schema } from "effect"
import { microTime } from "../api/time.ts"
import type { KubeError } from "./errors.ts"
import { KubeApi } from "./KubeApi.ts"
import { type Lease, Resources } from "./resources.ts"

/** Leadership ended while the work was running: the Lease was taken over or could not be renewed in time. */
export class LeadershipLost extends Schema.TaggedError<LeadershipLost>()("LeadershipLost", {
  lease: Schema.String,
  identity: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.identity} lost leadership of lease ${this.lease}: ${this.detail}`
  }
}

/** Settings of an election (defaults are client-go's / controller-runtime's). */
export interface LeaderElectionOptions {
  readonly namespace: string
  /** Lease name, e.g. `cloudnative-mysql-controller`. */
  readonly name: string
  /** This replica's identity (Pod name plus a random suffix). */
  readonly identity: string
  /** How long a Lease stays valid without renewal (default 15 s). */
  readonly leaseDuration?: Duration.Input | undefined
  /** How long the leader keeps trying to renew before giving up (default 10 s). */
  readonly renewDeadline?: Duration.Input | undefined
  /** Pause between acquire or renew attempts (default 2 s). */
  readonly retryPeriod?: Duration.Input | undefined
  /** Release the Lease when the work ends or is interrupted (default true). */
  readonly releaseOnCancel?: boolean | undefined
  /** Called after each acquire attempt that found the Lease held by another replica (readiness of a standby). */
  readonly onStandby?: ((holder: string) => Effect.Effect<void>) | undefined
}

type LeaseSpec = NonNullable<Lease["spec"]>

interface Observation {
  readonly spec: LeaseSpec | undefined
  readonly resourceVersion: string | undefined
  readonly at: number
}

const sameRecord = (a: LeaseSpec | undefined, b: LeaseSpec | undefined) =>
  a?.holderIdentity === b?.holderIdentity &&
  a?.renewTime === b?.renewTime &&
  a?.leaseTransitions === b?.leaseTransitions

/**
 * Runs `work` only while holding the Lease: waits to acquire it, runs the work, renews in the background.
 * If leadership is lost the work is interrupted and this fails with `LeadershipLost` (the caller should
 * exit, as controller-runtime does, and let the Deployment restart it as a candidate).
 */
export const runAsLeader = Effect.fnUntraced(function* <A, E, R>(
  options: LeaderElectionOptions,
  work: Effect.Effect<A, E, R>
): Effect.fn.Return<A, E | LeadershipLost, R | KubeApi> {
  const api = yield* KubeApi
  const leaseMillis = Duration.toMillis(Duration.fromInputUnsafe(options.leaseDuration ?? "15 seconds"))
  const renewDeadline = options.renewDeadline ?? "10 seconds"
  const retryPeriod = options.retryPeriod ?? "2 seconds"
  const ref = { namespace: options.namespace, name: options.name }
  const leaseName = `${options.namespace}/${options.name}`
  let observed: Observation | undefined

  const observe = (lease: Lease) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const changed = observed === undefined || !sameRecord(observed.spec, lease.spec)
      observed = {
        spec: lease.spec,
        resourceVersion: lease.metadata.resourceVersion,
        at: changed ? now : (observed?.at ?? now)
      }
    })

  /** One attempt; succeeds with whether this replica holds the Lease afterwards. */
  const tryAcquireOrRenew: Effect.Effect<boolean, KubeError> = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const mine = (previous: LeaseSpec | undefined): LeaseSpec => {
      const wasMine = previous?.holderIdentity === options.identity
      return {
        ...previous,
        holderIdentity: options.identity,
        leaseDurationSeconds: Math.ceil(leaseMillis / 1000),
        acquireTime: wasMine ? (previous?.acquireTime ?? microTime(now)) : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: wasMine ? (previous?.leaseTransitions ?? 0) : (previous?.leaseTransitions ?? -1) + 1
      }
    }
    const current = yield* api.get(Resources.leases, ref).pipe(
      Effect.map((lease): Lease | undefined => lease),
      Effect.catchTag("NotFound", () => Effect.succeed(undefined))
    )
    if (current === undefined) {
      const created = yield* api.create(Resources.leases, {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { namespace: options.namespace, name: options.name },
        spec: { ...mine(undefined), leaseTransitions: 0 }
      })
      yield* observe(created)
      return true
    }
    yield* observe(current)
    const holder = current.spec?.holderIdentity ?? ""
    const heldByOther = holder !== "" && holder !== options.identity && (observed?.at ?? now) + leaseMillis > now
    if (heldByOther) return false
    const replaced = yield* api.replace(Resources.leases, { ...current, spec: mine(current.spec) })
    yield* observe(replaced)
    return true
  }).pipe(
    Effect.catchTags({
      // someone else wrote between our read and write, or created it first: not ours this round
      Conflict: () => Effect.succeed(false),
      AlreadyExists: () => Effect.succeed(false)
    })
  )

  const acquire = Effect.gen(function* () {
    while (true) {
      const held = yield* tryAcquireOrRenew.pipe(
        Effect.catch((error) =>
          Effect.as(Effect.logWarning("lease acquire attempt failed", { error: error.message }), false)
        )
      )
      if (held) return
      const holder = observed?.spec?.holderIdentity ?? ""
      if (options.onStandby !== undefined && holder !== "" && holder !== options.identity) {
        yield* options.onStandby(holder)
      }
      yield* Effect.sleep(yield* jitter(retryPeriod))
    }
  })

  /** Renews until a renewal round misses its deadline or the Lease is held by someone else. */
  const renewLoop = Effect.gen(function* () {
    while (true) {
      yield* Effect.sleep(retryPeriod)
      const renewed = yield* Effect.gen(function* () {
        while (true) {
          const held = yield* tryAcquireOrRenew.pipe(Effect.catch(() => Effect.succeed(undefined)))
          if (held === true) return true
          // a lost write race (Conflict) while the record still names us is retried; another holder is final
          if (held === false && observed?.spec?.holderIdentity !== options.identity) return false
          yield* Effect.sleep(Duration.millis(Duration.toMillis(Duration.fromInputUnsafe(retryPeriod)) / 4))
        }
      }).pipe(Effect.timeoutOption(renewDeadline))
      if (renewed._tag === "None") {
        return yield* new LeadershipLost({
          lease: leaseName,
          identity: options.identity,
          detail: "renew deadline exceeded"
        })
      }
      if (!renewed.value) {
        const holder = observed?.spec?.holderIdentity ?? ""
        return yield* new LeadershipLost({
          lease: leaseName,
          identity: options.identity,
          detail: `lease is held by ${holder}`
        })
      }
    }
  })

  // bounded: a shutdown must not hang on an unreachable API server; the Lease then simply expires
  const release = Effect.gen(function* () {
    const lease = yield* api.get(Resources.leases, ref)
    if (lease.spec?.holderIdentity !== options.identity) return
    const now = yield* Clock.currentTimeMillis
    yield* api.replace(Resources.leases, {
      ...lease,
      spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: microTime(now) }
    })
  }).pipe(
    Effect.timeoutOption(renewDeadline),
    Effect.catch((error) => Effect.logWarning("lease release failed", { error: error.message }))
  )

  yield* acquire
  yield* Effect.logInfo("acquired leadership", { lease: leaseName, identity: options.identity })
  const releaseOnCancel = options.releaseOnCancel ?? true
  return yield* Effect.gen(function* () {
    const renewer = yield* Effect.forkChild(renewLoop)
    return yield* Effect.raceFirst(work, Fiber.join(renewer))
  }).pipe(
    Effect.onExit((exit) =>
      // after LeadershipLost the Lease is not ours to release
      releaseOnCancel && !(Exit.isFailure(exit) && lostLeadership(exit.cause)) ? release : Effect.void
    )
  )
})

const lostLeadership = <E>(cause: Cause.Cause<E>) =>
  Option.exists(Cause.findErrorOption(cause), (error) => error instanceof LeadershipLost)

/** client-go's wait.Jitter(period, 1.2): up to 20 % longer, so candidates do not retry in lockstep. */
const jitter = (period: Duration.Input): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (random) => Duration.times(Duration.fromInputUnsafe(period), 1 + random * 0.2))
