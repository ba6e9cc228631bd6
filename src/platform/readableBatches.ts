/**
 * A Node `Readable` of bytes as an Effect `Stream` whose pulls carry **batches** of at least `batchBytes`
 * (but the last), for the data movers' hot paths.
 *
 * Why not `NodeStream.fromReadable`: it wakes its consumer on every `readable` event, and a TLS socket or an
 * HTTP/2 stream delivers one chunk per TLS record piece (8 KiB on average, docs/performance.md), so every
 * ~8 KiB paid one Effect pull plus every stage downstream (hashing loop, part cutting, counters): ~125,000
 * pulls per GiB, which cost the worker more CPU than receiving the bytes. Here chunks are gathered in flowing
 * mode (`data` events, no copy, no Effect work) and the consumer wakes once per batch.
 *
 * Backpressure: once `batchBytes` are gathered the readable is paused until the consumer takes them, so at
 * most one batch (plus the chunk that completed it) waits here, on top of the readable's own buffer and
 * whatever flow control lets the sender have in flight. A consumer that stops pulling stops the sender.
 *
 * The stream ends after the readable's `end` (the last batch may be shorter); a readable error fails it with
 * `onError(error)` at once, bytes gathered but not yet taken are dropped (a verifying consumer has no use for
 * a truncated tail). When the stream's scope closes before the end, the readable is destroyed unless
 * `closeOnDone` is `false` (its owner closes it); then it is left paused, so the sender stays held back.
 *
 * @since 0.1.0
 */
import { finished, type Readable } from "node:stream"
import { Array as Arr, Cause, Channel, Effect, Latch, type Pull, Scope, Stream } from "effect"

/** How the readable is turned into a stream. */
export interface ReadableBatchesOptions<E> {
  readonly evaluate: () => Readable
  readonly onError: (error: unknown) => E
  /** Bytes gathered before the consumer is woken (default 1 MiB). */
  readonly batchBytes?: number
  /** Destroy the readable when the stream is done or interrupted (default `true`). */
  readonly closeOnDone?: boolean
}

/** Default batch: large against a TLS record, small against a 16 MiB part. */
export const defaultBatchBytes = 1024 * 1024

/** The readable's bytes, in batches (see the module comment). */
export const readableBatches = <E>(options: ReadableBatchesOptions<E>): Stream.Stream<Uint8Array, E> =>
  Stream.fromChannel(
    Channel.fromTransform((_, scope) =>
      Effect.suspend(() => {
        const readable = options.evaluate()
        const batchBytes = Math.max(1, options.batchBytes ?? defaultBatchBytes)
        const latch = Latch.makeUnsafe(false)
        let chunks: Array<Uint8Array> = []
        let gathered = 0
        let ended = false
        let failure: { readonly error: E } | undefined
        const onData = (chunk: Uint8Array) => {
          chunks.push(chunk)
          gathered += chunk.length
          if (gathered >= batchBytes) {
            readable.pause()
            latch.openUnsafe()
          }
        }
        readable.on("data", onData)
        // a 'data' listener alone does not restart a readable a previous consumer left paused
        readable.resume()
        const cleanup = finished(readable, { readable: true, writable: false }, (error) => {
          if (error) failure ??= { error: options.onError(error) }
          ended = true
          latch.openUnsafe()
        })
        const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<Uint8Array>, E> = Effect.suspend(function loop(): Pull.Pull<
          Arr.NonEmptyReadonlyArray<Uint8Array>,
          E
        > {
          // a failure wins over bytes still gathered: a verifying consumer has no use for a truncated tail
          if (failure !== undefined) return Effect.fail(failure.error)
          const batch = chunks
          if (Arr.isArrayNonEmpty(batch) && (gathered >= batchBytes || ended)) {
            chunks = []
            gathered = 0
            if (!ended) readable.resume()
            return Effect.succeed(batch)
          }
          if (ended) return Cause.done()
          latch.closeUnsafe()
          return Effect.flatMap(latch.await, loop)
        })
        return Effect.as(
          Scope.addFinalizer(
            scope,
            Effect.sync(() => {
              readable.off("data", onData)
              // taking the listener off does not leave flowing mode: a readable its owner keeps would go on
              // flowing into nothing, dropping bytes and lifting the backpressure on the sender
              readable.pause()
              cleanup()
              // errors of a readable nobody reads any more (e.g. the reset that destroying causes) are moot
              readable.on("error", () => {})
              if (options.closeOnDone !== false && !readable.destroyed) readable.destroy()
            })
          ),
          pull
        )
      })
    )
  )
