/**
 * A DevTools-protocol session with a Node child started with `--inspect=127.0.0.1:0`, over Node's global
 * WebSocket: what a benchmark needs to measure another process's memory honestly.
 *
 * - `collectGarbage`: V8's full, compacting collection of everything unreachable (`HeapProfiler.collectGarbage`
 *   is `LowMemoryNotification`), so "heap in use" afterwards is what the process retains, not garbage a lazy
 *   collector has not reached yet;
 * - `heapUsedBytes`: the V8 heap in use (`Runtime.getHeapUsage`);
 * - `writeHeapSnapshot`: a `.heapsnapshot` file (Chrome DevTools' Memory tab reads it) for finding retainers;
 * - `evaluate`: an expression's JSON value in the child (`process.memoryUsage()`, `v8.getHeapSpaceStatistics()`).
 *
 * The child prints its inspector URL on stderr (`Debugger listening on ws://…`): `inspectorUrl` finds it there.
 */
import { createWriteStream } from "node:fs"

/** The inspector URL a child started with `--inspect` printed, or undefined while it has not. */
export const inspectorUrl = (stderr: string): string | undefined =>
  /Debugger listening on (ws:\/\/\S+)/u.exec(stderr)?.[1]

/** An open session. */
export interface Inspector {
  readonly collectGarbage: () => Promise<void>
  readonly heapUsedBytes: () => Promise<number>
  readonly writeHeapSnapshot: (path: string) => Promise<void>
  readonly evaluate: (expression: string) => Promise<unknown>
  readonly close: () => void
}

interface Message {
  readonly id?: number
  readonly method?: string
  readonly params?: { readonly chunk?: string }
  readonly result?: unknown
  readonly error?: { readonly message: string }
}

/** Connects to `url`; one session at a time per process. */
export const connectInspector = async (url: string): Promise<Inspector> => {
  const socket = new WebSocket(url)
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true })
    socket.addEventListener("error", () => reject(new Error(`cannot connect to the inspector at ${url}`)), {
      once: true
    })
  })
  let nextId = 1
  const pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>()
  let onChunk: ((chunk: string) => void) | undefined
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as Message
    if (message.method === "HeapProfiler.addHeapSnapshotChunk") {
      onChunk?.(message.params?.chunk ?? "")
      return
    }
    const waiter = message.id === undefined ? undefined : pending.get(message.id)
    if (waiter === undefined || message.id === undefined) return
    pending.delete(message.id)
    if (message.error !== undefined) waiter.reject(new Error(message.error.message))
    else waiter.resolve(message.result)
  })
  const send = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve, reject })
      socket.send(JSON.stringify({ id, method, params }))
    })

  return {
    collectGarbage: async () => {
      await send("HeapProfiler.collectGarbage")
    },
    heapUsedBytes: async () => ((await send("Runtime.getHeapUsage")) as { usedSize: number }).usedSize,
    writeHeapSnapshot: async (path) => {
      const file = createWriteStream(path)
      onChunk = (chunk) => file.write(chunk)
      try {
        await send("HeapProfiler.enable")
        await send("HeapProfiler.takeHeapSnapshot", { reportProgress: false })
        await send("HeapProfiler.disable")
      } finally {
        onChunk = undefined
        await new Promise<void>((resolve, reject) =>
          file.end((error?: Error | null) => (error ? reject(error) : resolve()))
        )
      }
    },
    evaluate: async (expression) => {
      const reply = (await send("Runtime.evaluate", { expression, returnByValue: true })) as {
        readonly result: { readonly value?: unknown }
        readonly exceptionDetails?: { readonly text: string }
      }
      if (reply.exceptionDetails !== undefined) throw new Error(reply.exceptionDetails.text)
      return reply.result.value
    },
    close: () => socket.close()
  }
}
