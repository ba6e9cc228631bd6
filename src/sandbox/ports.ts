/**
 * Loopback ports for the throwaway servers.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { Data, Effect, Random } from "effect"

/** Every port tried was taken. */
export class NoFreePort extends Data.TaggedError("NoFreePort")<{ readonly attempts: number }> {
  override get message(): string {
    return `no free loopback port below the ephemeral range after ${this.attempts} attempts`
  }
}

const ephemeralLow = ((): number => {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/u)[0]) || 32768
  } catch {
    return 32768
  }
})()

const listensOn = (port: number): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const server = createServer()
    server.once("error", () => resume(Effect.succeed(false)))
    server.listen(port, "127.0.0.1", () => server.close(() => resume(Effect.succeed(true))))
  })

const attempts = 200

/**
 * A TCP port that was free a moment ago on 127.0.0.1, chosen below the kernel's ephemeral range: a port from
 * inside it (what `listen(0)` hands out) can be taken by any outgoing connection before the server binds it.
 * Running out of candidates is a defect: 200 random ports below the range all taken means a broken machine.
 */
export const freePort: Effect.Effect<number> = Effect.gen(function* () {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = yield* Random.nextIntBetween(10000, ephemeralLow, { halfOpen: true })
    if (yield* listensOn(port)) return port
  }
  return yield* Effect.die(new NoFreePort({ attempts }))
})
