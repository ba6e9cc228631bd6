/**
 * How the Cluster reconciler asks a Cluster's binlog archiver for `GET /status` (plain HTTP on the archiver Pod's
 * IP, `archiverStatusPort`). The controller has no object-store credentials, so this answer is all it knows
 * about the archive; it carries no secret (GTIDs, file names, times), hence no TLS.
 *
 * @since 0.2.0
 */
import { Context, Data, Effect, Layer } from "effect"
import { type ArchiverStatus, decodeArchiverStatus } from "../../api/binlogArchive.ts"

/** The archiver did not answer, or its answer did not decode. */
export class ArchiverStatusUnavailable extends Data.TaggedError("ArchiverStatusUnavailable")<{
  readonly url: string
  readonly detail: string
}> {
  override get message(): string {
    return `the binlog archiver at ${this.url} did not report: ${this.detail}`
  }
}

/** The archivers' status API. */
export class ArchiverStatusClient extends Context.Service<
  ArchiverStatusClient,
  { readonly status: (url: string) => Effect.Effect<ArchiverStatus, ArchiverStatusUnavailable> }
>()("cloudnative-mysql/controller/binlogArchiving/ArchiverStatusClient") {
  /** Over plain HTTP; a request that takes longer than 5 s counts as a failed one. */
  static readonly layer: Layer.Layer<ArchiverStatusClient> = Layer.succeed(ArchiverStatusClient, {
    status: (url) =>
      Effect.tryPromise({
        try: async (signal) => {
          const response = await fetch(url, { signal })
          if (!response.ok) throw new Error(`HTTP ${response.status}`)
          return await response.text()
        },
        catch: (error) => new ArchiverStatusUnavailable({ url, detail: String(error) })
      }).pipe(
        Effect.flatMap((text) =>
          decodeArchiverStatus(text).pipe(
            Effect.mapError((e) => new ArchiverStatusUnavailable({ url, detail: `not a status: ${e.message}` }))
          )
        ),
        Effect.timeoutOrElse({
          duration: "5 seconds",
          orElse: () => Effect.fail(new ArchiverStatusUnavailable({ url, detail: "no answer within 5 seconds" }))
        })
      )
  })

  /** Answers from `script` by URL; a URL it has no answer for is unreachable. */
  static readonly layerTest = (script: (url: string) => ArchiverStatus | undefined) =>
    Layer.succeed(ArchiverStatusClient, {
      status: (url) => {
        const answer = script(url)
        return answer === undefined
          ? Effect.fail(new ArchiverStatusUnavailable({ url, detail: "connect ECONNREFUSED" }))
          : Effect.succeed(answer)
      }
    })
}
