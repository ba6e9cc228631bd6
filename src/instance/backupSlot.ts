/**
 * One backup at a time on an instance (the tool's target directory and the server's backup locks allow no
 * second), and what a request meets while another backup holds the slot:
 * - the holder's client has gone (its response closed before the outcome was sent): the tool is being stopped,
 *   SIGINT then SIGKILL after the grace period, so the request waits for the slot, at most that grace plus a
 *   margin. A Job's retry after a SIGKILLed (OOM-killed) worker arrives within seconds, and must run rather than
 *   fail on a backup that is already ending;
 * - the holder's client speaks HTTP/2 and does not answer a PING in time: a peer that vanished without closing
 *   its connection (its node lost, a partition) holds the slot until TCP gives up, a quarter of an hour. Its
 *   session is destroyed, which stops the tool as a disconnect does, and the request waits as above;
 * - otherwise the holder is alive and the request is refused (`BackupAlreadyRunning`, HTTP 409).
 *
 * A PING that cannot be sent counts as answered (`peerSilent`): a live backup is never ended on a doubt.
 *
 * @since 0.1.0
 */
import { Clock, Data, Deferred, Effect, type Scope } from "effect"
import { peerSilent } from "../platform/http2Ping.ts"
import { type ApiResponse, isClosed } from "./response.ts"

/** Another backup runs and its client is alive. */
export class BackupAlreadyRunning extends Data.TaggedError("BackupAlreadyRunning")<{
  readonly message: string
}> {}

/** The previous backup's client went away, and its tool outlived the wait for it to stop. */
export class PreviousBackupStopping extends Data.TaggedError("PreviousBackupStopping")<{
  readonly message: string
}> {}

/** Timing of the slot's waits. */
export interface BackupSlotOptions {
  /** How long a stopping tool may take: the tool's kill grace plus a margin for SIGKILL and reaping. */
  readonly stopWaitMillis: number
  /** How long the holder's HTTP/2 client gets to answer a PING. */
  readonly pingTimeoutMillis: number
}

/** The instance's one backup slot. */
export interface BackupSlot {
  /** Holds the slot for the scope; `res` is the holder's response, watched for its client. */
  readonly acquire: (
    res: ApiResponse
  ) => Effect.Effect<void, BackupAlreadyRunning | PreviousBackupStopping, Scope.Scope>
  readonly held: () => boolean
}

interface Holder {
  readonly res: ApiResponse
  readonly released: Deferred.Deferred<void>
}

/** The client went away before the response was ended (an ended response is a backup that finished). */
const clientGone = (res: ApiResponse): boolean => isClosed(res) && !res.writableEnded

/** The holder's HTTP/2 session; HTTP/1.1 has none (and no PING). */
const sessionOf = (res: ApiResponse) => ("stream" in res ? res.stream.session : undefined)

/** The slot of one instance manager. */
export const makeBackupSlot = (options: BackupSlotOptions): BackupSlot => {
  let holder: Holder | undefined

  const take = (res: ApiResponse) =>
    Effect.gen(function* () {
      const mine: Holder = { res, released: yield* Deferred.make<void>() }
      holder = mine
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          if (holder === mine) holder = undefined
          return Deferred.succeed(mine.released, undefined)
        })
      )
    })

  const acquire = Effect.fnUntraced(function* (res: ApiResponse) {
    const waitUntil = (yield* Clock.currentTimeMillis) + options.stopWaitMillis
    for (;;) {
      const current = holder
      if (current === undefined) return yield* take(res)
      if (!clientGone(current.res)) {
        const silent = yield* peerSilent(sessionOf(current.res), options.pingTimeoutMillis)
        // a PING that failed because the session closed: the client is gone after all
        if (!silent && !clientGone(current.res)) {
          return yield* new BackupAlreadyRunning({ message: "a backup is already running on this instance" })
        }
        if (silent) {
          yield* Effect.logWarning("the running backup's client did not answer a ping: closing its connection")
          sessionOf(current.res)?.destroy()
        }
      }
      const remaining = waitUntil - (yield* Clock.currentTimeMillis)
      const released = yield* Deferred.await(current.released).pipe(Effect.timeoutOption(Math.max(0, remaining)))
      if (released._tag === "None") {
        return yield* new PreviousBackupStopping({
          message: `the previous backup's client went away and its tool has not stopped within ${options.stopWaitMillis} ms`
        })
      }
    }
  })

  return { acquire, held: () => holder !== undefined }
}
