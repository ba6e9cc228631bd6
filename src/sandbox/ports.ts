/**
 * Loopback ports for the throwaway servers.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { Effect } from "effect"
import { randomBelow } from "./wallClock.ts"

const ephemeralLow = ((): number => {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/u)[0]) || 32768
  } catch {
    return 32768
  }
})()

const listensOn = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/**
 * A TCP port that was free a moment ago on 127.0.0.1, chosen below the kernel's ephemeral range: a port from
 * inside it (what `listen(0)` hands out) can be taken by any outgoing connection before the server binds it.
 */
export const freePortAsync = async (): Promise<number> => {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10000 + randomBelow(ephemeralLow - 10000)
    if (await listensOn(port)) return port
  }
  throw new Error("no free loopback port below the ephemeral range")
}

/** {@link freePortAsync} as an Effect. */
export const freePort: Effect.Effect<number> = Effect.promise(() => freePortAsync())
