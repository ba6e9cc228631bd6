/**
 * A `node:http`/`node:https` server listening for the lifetime of a scope: the instance manager's two
 * listeners and the fake API server. Closing the scope stops accepting and drops kept-alive connections, so it
 * never waits for an idle client.
 *
 * @since 0.1.0
 */
import type { Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Data, Effect, type Scope } from "effect"

/** The address could not be bound (in use, not local, not permitted). */
export class ListenFailed extends Data.TaggedError("ListenFailed")<{
  readonly host: string
  readonly port: number
  readonly detail: string
}> {
  override get message(): string {
    return `cannot listen on ${this.host}:${this.port}: ${this.detail}`
  }
}

/** Listens on `host:port` (0 picks a free port) and resolves with the bound port; fails if the bind fails. */
export const listenScoped = (
  server: Server,
  port: number,
  host: string
): Effect.Effect<number, ListenFailed, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<number, ListenFailed>((resume) => {
      const onError = (error: Error) => resume(Effect.fail(new ListenFailed({ host, port, detail: error.message })))
      server.once("error", onError)
      server.listen(port, host, () => {
        server.off("error", onError)
        resume(Effect.succeed((server.address() as AddressInfo).port))
      })
    }),
    () =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )
