/**
 * Byte-stream building blocks: cutting a stream into multipart parts without copying where a view will do.
 *
 * Streams carry `Uint8Array` chunks (never `Stream<number>`); `Stream.rechunk` counts elements, not bytes,
 * so part cutting is done here.
 *
 * @since 0.1.0
 */
import { Stream } from "effect"
import { type PartSchedule, partSizeFor } from "./partSchedule.ts"

/** One part of a multipart upload: its 1-based number and its bytes. */
export interface Part {
  readonly partNumber: number
  readonly body: Uint8Array
}

/**
 * Recycles part buffers: a part's buffer goes back once the store acknowledged the part, so a long upload
 * reuses about `uploadConcurrency + 2` buffers instead of allocating (and page-faulting) a fresh one per
 * part. Only buffers it allocated are taken back; views of source chunks are ignored.
 */
export class PartBufferPool {
  readonly #free = new Map<number, Array<ArrayBuffer>>()
  readonly #owned = new WeakSet<ArrayBufferLike>()
  readonly #keep: number

  /** `keep`: most free buffers kept per size (the rest are left to the GC). */
  constructor(keep: number) {
    this.#keep = keep
  }

  /** A buffer of exactly `size` bytes, with arbitrary content. */
  take(size: number): Uint8Array {
    const reused = this.#free.get(size)?.pop()
    if (reused !== undefined) return new Uint8Array(reused)
    const buffer = new ArrayBuffer(size)
    this.#owned.add(buffer)
    return new Uint8Array(buffer)
  }

  /** Returns the buffer behind `part` (a whole pool buffer or a view of one) for reuse. */
  give(part: Uint8Array): void {
    const buffer = part.buffer
    if (!this.#owned.has(buffer) || !(buffer instanceof ArrayBuffer)) return
    const free = this.#free.get(buffer.byteLength) ?? []
    if (free.length < this.#keep && !free.includes(buffer)) free.push(buffer)
    this.#free.set(buffer.byteLength, free)
  }
}

interface CutState {
  partNumber: number
  buf: Uint8Array | undefined
  off: number
}

/**
 * Cuts a byte stream into parts whose sizes follow `schedule`: every part but the last is exactly
 * `partSizeFor(schedule, n)` bytes, the last holds the rest (an empty stream gives no part).
 *
 * A source chunk that covers a whole part is passed through as a view (no copy); otherwise bytes are
 * copied into a buffer taken from `pool` (fresh when none is given); an emitted buffer is never written
 * again unless the consumer gives it back to the pool, so a part can be uploaded while the next one fills.
 * At most one partial part is held here.
 */
export const cutParts =
  (schedule: PartSchedule, pool?: PartBufferPool) =>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Part, E, R> =>
    Stream.mapAccum(
      self,
      (): CutState => ({ partNumber: 1, buf: undefined, off: 0 }),
      (state, chunk) => {
        const out: Array<Part> = []
        let pos = 0
        while (pos < chunk.length) {
          const size = partSizeFor(schedule, state.partNumber)
          if (state.off === 0 && chunk.length - pos >= size) {
            out.push({ partNumber: state.partNumber++, body: chunk.subarray(pos, pos + size) })
            pos += size
            continue
          }
          // every byte is overwritten before the part is emitted, so a recycled buffer is fine
          const buf = state.buf ?? pool?.take(size) ?? Buffer.allocUnsafe(size)
          state.buf = buf
          const n = Math.min(size - state.off, chunk.length - pos)
          buf.set(chunk.subarray(pos, pos + n), state.off)
          state.off += n
          pos += n
          if (state.off === size) {
            out.push({ partNumber: state.partNumber++, body: buf })
            state.buf = undefined
            state.off = 0
          }
        }
        return [state, out]
      },
      {
        onHalt: (state) =>
          state.buf !== undefined && state.off > 0
            ? [{ partNumber: state.partNumber, body: state.buf.subarray(0, state.off) }]
            : []
      }
    )

/** Number of bytes in a batch of chunks. */
export const byteLength = (chunks: ReadonlyArray<Uint8Array>): number => {
  let n = 0
  for (const chunk of chunks) n += chunk.length
  return n
}
