/**
 * Whether an HTTP/2 peer has gone silent: it did not acknowledge a PING in time. A peer whose node vanished, or
 * that sits behind a partition, sends no FIN, so its connection looks open until TCP gives up (about 15
 * minutes); a PING tells it from one that is merely quiet.
 *
 * A PING that cannot be sent (too many outstanding) or that fails because the session is closing is not
 * silence: a live peer is never given up on a doubt, and a closing session reports itself through its streams.
 *
 * @since 0.2.0
 */
import type { Http2Session } from "node:http2"
import { Effect, Option } from "effect"

/** `true` when `session`'s peer does not acknowledge a PING within `timeoutMillis`; no session: `false`. */
export const peerSilent = (session: Http2Session | undefined, timeoutMillis: number): Effect.Effect<boolean> =>
  session === undefined || session.destroyed
    ? Effect.succeed(false)
    : Effect.callback<void>((resume) => {
        if (!session.ping(() => resume(Effect.void))) resume(Effect.void)
      }).pipe(Effect.timeoutOption(timeoutMillis), Effect.map(Option.isNone))
