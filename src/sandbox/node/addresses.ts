/**
 * Pod IPs for one sandbox: a /16 of the loopback network, `127.<block>.0.0/16`, owned by one sandbox at a
 * time through a lock directory under the system temp dir (`cloudnative-mysql-sandbox-blocks/<block>`, holding
 * the owner's PID; a lock whose owner is gone is taken over). Addresses are handed out in order from
 * `127.<block>.0.2` and reused only after the whole block went round, so a deleted Pod's IP does not reach a
 * new Pod while clients may still talk to the old one. Linux routes all of 127.0.0.0/8 to `lo`, so every such
 * address can be bound without configuration.
 *
 * @since 0.1.0
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Data, Effect, type Scope } from "effect"

export class AddressBlockUnavailable extends Data.TaggedError("AddressBlockUnavailable")<{
  readonly message: string
}> {}

const locksDir = join(tmpdir(), "cloudnative-mysql-sandbox-blocks")

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const tryLock = (block: number): boolean => {
  const dir = join(locksDir, String(block))
  try {
    mkdirSync(dir)
  } catch {
    const owner = Number(
      (() => {
        try {
          return readFileSync(join(dir, "pid"), "utf8")
        } catch {
          return "0"
        }
      })()
    )
    if (owner !== 0 && alive(owner)) return false
    rmSync(dir, { recursive: true, force: true })
    try {
      mkdirSync(dir)
    } catch {
      return false
    }
  }
  writeFileSync(join(dir, "pid"), String(process.pid))
  return true
}

/** The addresses of one sandbox. */
export interface AddressBlock {
  readonly block: number
  readonly allocate: Effect.Effect<string, AddressBlockUnavailable>
  readonly release: (ip: string) => Effect.Effect<void>
}

/** Takes the block `preferred` (or the first free one from 10 up) for the scope's lifetime. */
export const acquireAddressBlock = (
  preferred?: number
): Effect.Effect<AddressBlock, AddressBlockUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    mkdirSync(locksDir, { recursive: true })
    const candidates = preferred === undefined ? Array.from({ length: 240 }, (_, index) => index + 10) : [preferred]
    const block = candidates.find(tryLock)
    if (block === undefined) {
      return yield* new AddressBlockUnavailable({
        message:
          preferred === undefined
            ? `every loopback block 127.10-249.0.0/16 is owned by a running sandbox (${locksDir})`
            : `loopback block 127.${preferred}.0.0/16 is owned by another running sandbox (${locksDir}/${preferred})`
      })
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => rmSync(join(locksDir, String(block)), { recursive: true, force: true }))
    )
    const inUse = new Set<number>()
    let next = 2
    const size = 65_534
    return {
      block,
      allocate: Effect.suspend(() => {
        for (let step = 0; step < size; step++) {
          const candidate = next
          next = next >= size ? 2 : next + 1
          if (!inUse.has(candidate)) {
            inUse.add(candidate)
            return Effect.succeed(`127.${block}.${candidate >> 8}.${candidate & 0xff}`)
          }
        }
        return Effect.fail(new AddressBlockUnavailable({ message: `no free Pod IP left in 127.${block}.0.0/16` }))
      }),
      release: (ip) =>
        Effect.sync(() => {
          const [, , high, low] = ip.split(".").map(Number)
          if (high !== undefined && low !== undefined) inUse.delete(high * 256 + low)
        })
    }
  })
