/**
 * Container logs on disk, as the kubelet keeps them (Logging architecture): one file per container run
 * (`<podDir>/logs/<container>/<restartCount>.log`, stdout and stderr interleaved, written by the process
 * itself through an `O_APPEND` descriptor so the agent copies no bytes), the current run and the previous
 * one kept, each bounded: a file past `maxBytes` keeps its last half (the kubelet rotates at
 * `containerLogMaxSize`, 10 MiB by default).
 *
 * Reading serves `pods/log`: `tailLines`, `limitBytes`, and `follow`, which polls the file until the run it
 * reads has ended and no byte is left.
 *
 * @since 0.1.0
 */
import { closeSync, openSync, readSync, statSync } from "node:fs"
import { mkdir, open, readdir, rm, stat, truncate } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Option, Stream } from "effect"

/** The directory of one container's logs. */
export const containerLogDir = (podDir: string, container: string): string => join(podDir, "logs", container)

/** The log file of one run of a container. */
export const runLogFile = (podDir: string, container: string, restartCount: number): string =>
  join(containerLogDir(podDir, container), `${restartCount}.log`)

/** Opens the log file of a new run (`O_APPEND`) and drops runs older than the previous one; returns the fd. */
export const openRunLog = (podDir: string, container: string, restartCount: number): Effect.Effect<number> =>
  Effect.promise(async () => {
    const dir = containerLogDir(podDir, container)
    await mkdir(dir, { recursive: true })
    for (const name of await readdir(dir)) {
      const run = Number(name.replace(/\.log$/u, ""))
      if (Number.isInteger(run) && run < restartCount - 1) await rm(join(dir, name), { force: true })
    }
    return openSync(runLogFile(podDir, container, restartCount), "a")
  })

/** Keeps a log file under `maxBytes`: past it, only the last half stays. */
export const boundLogFile = (path: string, maxBytes: number): Effect.Effect<void> =>
  Effect.promise(async () => {
    const size = await stat(path).then(
      (info) => info.size,
      () => 0
    )
    if (size <= maxBytes) return
    const keep = Math.floor(maxBytes / 2)
    const handle = await open(path, "r")
    const tail = Buffer.alloc(keep)
    try {
      await handle.read(tail, 0, keep, size - keep)
    } finally {
      await handle.close()
    }
    await truncate(path, 0)
    const writer = await open(path, "a")
    try {
      await writer.write(tail)
    } finally {
      await writer.close()
    }
  })

const sizeOf = (path: string): number => {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

const readRange = (path: string, from: number, to: number): Buffer => {
  if (to <= from) return Buffer.alloc(0)
  const fd = openSync(path, "r")
  try {
    const buffer = Buffer.alloc(to - from)
    const read = readSync(fd, buffer, 0, buffer.length, from)
    return buffer.subarray(0, read)
  } finally {
    closeSync(fd)
  }
}

/** The byte offset where the last `lines` lines of the file start. */
const tailOffset = (path: string, size: number, lines: number): number => {
  if (lines === 0) return size
  let end = size
  let seen = 0
  const chunk = 64 * 1024
  while (end > 0) {
    const start = Math.max(0, end - chunk)
    const bytes = readRange(path, start, end)
    for (let index = bytes.length - 1; index >= 0; index--) {
      // a final newline ends the last line; it does not start a new one
      if (bytes[index] === 0x0a && start + index !== size - 1) {
        seen++
        if (seen === lines) return start + index + 1
      }
    }
    end = start
  }
  return 0
}

export interface ReadLogOptions {
  readonly tailLines: number | undefined
  readonly limitBytes: number | undefined
  /** When set, keep reading as the file grows until this says the run is over. */
  readonly follow: Effect.Effect<boolean> | undefined
}

/** The bytes of one run's log file. */
export const readLog = (path: string, options: ReadLogOptions): Stream.Stream<Uint8Array> => {
  interface State {
    readonly offset: number
    readonly sent: number
  }
  const start = Effect.sync((): State => {
    const size = sizeOf(path)
    return { offset: options.tailLines === undefined ? 0 : tailOffset(path, size, options.tailLines), sent: 0 }
  })
  const limit = options.limitBytes ?? Number.POSITIVE_INFINITY
  const step = (state: State) =>
    Effect.gen(function* () {
      const size = sizeOf(path)
      // a bounded file shrinks: continue from its new end rather than past it
      const offset = Math.min(state.offset, size)
      const until = Math.min(size, offset + 1024 * 1024, offset + (limit - state.sent))
      const bytes = readRange(path, offset, until)
      const next = { offset: offset + bytes.length, sent: state.sent + bytes.length }
      if (next.sent >= limit) return [[bytes], Option.none<State>()] as const
      if (bytes.length > 0) return [[bytes], Option.some(next)] as const
      if (options.follow === undefined || (yield* options.follow)) {
        // the run may have written its last bytes just before it ended
        const rest = readRange(path, next.offset, Math.min(sizeOf(path), next.offset + (limit - next.sent)))
        return [rest.length > 0 ? [rest] : [], Option.none<State>()] as const
      }
      yield* Effect.sleep("200 millis")
      return [[], Option.some(next)] as const
    })
  return Stream.unwrap(Effect.map(start, (initial) => Stream.paginate(initial, step)))
}
