/**
 * Client of the instance manager's mTLS API, used by the backup worker (`startBackup`) and the controller
 * (`getStatus`). Plain `node:http2` / `node:https` because the backup outcome arrives in HTTP trailers, which
 * only the raw streams expose. The backup stream is fetched over HTTP/2: its DATA frames are parsed in C++,
 * where HTTP/1.1 chunked encoding goes through the JS parser once per TLS record, which cost the worker
 * about a third more CPU per byte (bench:transport, docs/performance.md). Flow control bounds what is
 * buffered to `streamWindowBytes`, so a stalled reader still holds the tool back.
 *
 * Failure mapping: anything that prevents a response (connect, TLS handshake, a rejected certificate) is
 * `InstanceManagerTLSFailed`; a refused backup (409, 503), a stream cut before the trailers, or trailers that
 * report a non-zero exit are `XtraBackupFailed` (the outcome could not be confirmed).
 *
 * The detail always names the cause. When the client refuses the server (unknown CA, expired, wrong name) the TLS
 * error says so. When the server refuses the client certificate it just closes the connection after the handshake
 * (TLS 1.3: the client has already finished its side), so the client only sees a reset; the detail then adds what is
 * wrong with the client's own certificate, checked after the fact against the CA it was given and the clock (absent,
 * expired, not yet valid, signed by another CA). That check only explains a refusal, it never refuses anything.
 *
 * @since 0.1.0
 */
import { X509Certificate } from "node:crypto"
import type { IncomingMessage } from "node:http"
import { type ClientHttp2Stream, connect, type IncomingHttpHeaders } from "node:http2"
import { request } from "node:https"
import type { TLSSocket } from "node:tls"
import { Clock, Context, Deferred, Effect, Layer, Schema, type Scope, Stream } from "effect"
import { InstanceManagerTLSFailed, XtraBackupFailed } from "../api/failures.ts"
import { peerSilent } from "../platform/http2Ping.ts"
import { readableBatches } from "../platform/readableBatches.ts"
import {
  type BackupOutcome,
  type BackupStart,
  decodeBackupOutcome,
  decodeBackupStart,
  ErrorBody,
  FlushResult,
  InstanceStatus,
  paths
} from "./protocol.ts"

/** PEM material for the mutual TLS connection. */
export interface ClientTls {
  /** The cluster CA that signed the instance manager's server certificate. */
  readonly ca: string
  readonly cert: string
  readonly key: string
  /** Name to verify in the server certificate when it differs from the URL's host. */
  readonly servername?: string
}

/** A backup stream in progress. */
export interface BackupResponse {
  /** Tool, version, begin GTID/binlog from the response headers. */
  readonly start: BackupStart
  /**
   * The tool's stdout, in batches of about 1 MiB. Read with backpressure: nothing is buffered beyond the
   * flow-control window, Node's stream buffer and one batch (`platform/readableBatches.ts`).
   */
  readonly body: Stream.Stream<Uint8Array, XtraBackupFailed>
  /**
   * The outcome from the trailers, available once `body` has been consumed to its end. Fails with
   * `XtraBackupFailed` when the tool exited non-zero, did not print `completed OK!`, or the trailers never came.
   */
  readonly outcome: Effect.Effect<BackupOutcome, XtraBackupFailed>
}

const describe = (error: unknown): string => {
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code
    // OpenSSL's messages carry source paths and addresses around the one phrase that matters
    const message = /:SSL routines:[^:]*:([^:]+):/u.exec(error.message)?.[1] ?? error.message.trim()
    return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message
  }
  return String(error)
}

const readResponseBody = (res: IncomingMessage | ClientHttp2Stream): Promise<string> =>
  new Promise((resolve) => {
    const chunks: Array<Buffer> = []
    res.on("data", (chunk: Buffer) => chunks.push(chunk))
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    res.on("error", () => resolve(Buffer.concat(chunks).toString("utf8")))
  })

const statusMessage = (text: string, code: number | undefined): string => {
  const decoded = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorBody))(text)
  return decoded._tag === "Some" ? `HTTP ${code}: ${decoded.value.message}` : `HTTP ${code}: ${text.slice(0, 200)}`
}

const pemCertificates = (pem: string): Array<string> =>
  pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/gu) ?? []

/**
 * What is wrong with the client's certificate at `now`, as far as the client can tell: why a server that closed
 * the connection after the handshake refused it.
 */
export const diagnoseClientCertificate = (tls: ClientTls, now: number): string => {
  if (tls.cert.trim() === "") return "no client certificate was presented"
  let cert: X509Certificate
  try {
    cert = new X509Certificate(tls.cert)
  } catch {
    return "the client certificate is not a PEM certificate"
  }
  if (now < cert.validFromDate.getTime()) {
    return `the client certificate is not valid before ${cert.validFromDate.toISOString()}`
  }
  if (now > cert.validToDate.getTime()) return `the client certificate expired at ${cert.validToDate.toISOString()}`
  const cas = pemCertificates(tls.ca).flatMap((pem) => {
    try {
      return [new X509Certificate(pem)]
    } catch {
      return []
    }
  })
  if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) {
    const issuer = cert.issuer.replaceAll("\n", ", ")
    const trusted = cas.map((ca) => ca.subject.replaceAll("\n", ", ")).join("; ")
    return `the client certificate is signed by "${issuer}", not by the cluster CA "${trusted}"`
  }
  return "the client certificate is valid for the CA this client trusts: the instance manager trusts another CA"
}

/** The request failed; `secured` when it failed after the TLS handshake completed on the client's side. */
interface ConnectFailure {
  readonly error: unknown
  readonly secured: boolean
}

const connectFailure = (url: URL, tls: ClientTls, failure: ConnectFailure) =>
  Effect.gen(function* () {
    const cause = describe(failure.error)
    // a server refusing the client certificate closes the connection or sends an alert; the client is left guessing
    if (!failure.secured && tls.cert.trim() !== "")
      return new InstanceManagerTLSFailed({ url: url.href, detail: cause })
    const diagnosis = diagnoseClientCertificate(tls, yield* Clock.currentTimeMillis)
    return new InstanceManagerTLSFailed({
      url: url.href,
      detail: `${cause}: the instance manager closed the connection after the TLS handshake, which is how it refuses a client certificate: ${diagnosis}`
    })
  })

/** Opens `GET path` and resolves with the response; the request is destroyed when the scope closes. */
const open = (
  url: URL,
  tls: ClientTls,
  method: "GET" | "POST" = "GET"
): Effect.Effect<IncomingMessage, InstanceManagerTLSFailed, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ res: IncomingMessage; destroy: () => void }, ConnectFailure>((resume) => {
      const req = request(url, {
        method,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        ...(tls.servername === undefined ? {} : { servername: tls.servername }),
        agent: false,
        headers: { accept: "application/octet-stream, application/json" }
      })
      let secured = false
      req.once("socket", (socket) => (socket as TLSSocket).once("secureConnect", () => (secured = true)))
      req.once("response", (res) => resume(Effect.succeed({ res, destroy: () => req.destroy() })))
      // `on`, not `once`: a later socket error must not become an unhandled 'error' event (res reports it)
      req.on("error", (error) => resume(Effect.fail({ error, secured })))
      req.end()
      return Effect.sync(() => req.destroy())
    }),
    ({ destroy }) => Effect.sync(destroy)
  ).pipe(
    Effect.catch((failure: ConnectFailure) => Effect.flatMap(connectFailure(url, tls, failure), Effect.fail)),
    Effect.map(({ res }) => res)
  )

/**
 * The HTTP/2 receive window of the backup stream (and its connection): what may be in flight towards a
 * reader that stopped reading. Large enough for full 1 MiB frames to keep flowing, small against a part.
 */
const streamWindowBytes = 4 * 1024 * 1024
const maxFrameBytes = 1024 * 1024

const sessionCause = (error: unknown): unknown =>
  error instanceof Error && (error as Error & { code?: unknown }).code === "ERR_HTTP2_STREAM_CANCEL" && error.cause
    ? error.cause
    : error

/** An HTTP/2 `GET`: resolves with the response stream and headers; the session is destroyed with the scope. */
const openStream = (
  url: URL,
  tls: ClientTls
): Effect.Effect<
  { readonly stream: ClientHttp2Stream; readonly headers: IncomingHttpHeaders },
  InstanceManagerTLSFailed,
  Scope.Scope
> =>
  Effect.acquireRelease(
    Effect.callback<{ stream: ClientHttp2Stream; headers: IncomingHttpHeaders; destroy: () => void }, ConnectFailure>(
      (resume) => {
        const session = connect(url.origin, {
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          ...(tls.servername === undefined ? {} : { servername: tls.servername }),
          settings: { initialWindowSize: streamWindowBytes, maxFrameSize: maxFrameBytes }
        })
        // 'connect' comes after the TLS handshake finished on the client's side
        let secured = false
        // a session that fails its handshake cancels the pending stream first: the session's error is the cause
        const fail = (error: unknown) => resume(Effect.fail({ error: sessionCause(error), secured }))
        // `on`, not `once`: a later error must not become an unhandled 'error' event (the stream reports it)
        session.on("error", fail)
        session.once("connect", () => {
          secured = true
          session.setLocalWindowSize(streamWindowBytes)
        })
        const stream = session.request({ ":path": url.pathname, accept: "application/octet-stream, application/json" })
        stream.on("error", fail)
        // a TLS 1.3 server rejects a client certificate after the handshake: the session just closes
        session.once("close", () => fail(new Error("the connection closed before the response")))
        stream.once("close", () => fail(new Error(`the stream closed before the response (code ${stream.rstCode})`)))
        stream.once("response", (headers) =>
          resume(Effect.succeed({ stream, headers, destroy: () => session.destroy() }))
        )
        stream.end()
        return Effect.sync(() => session.destroy())
      }
    ),
    ({ destroy }) => Effect.sync(destroy)
  ).pipe(Effect.catch((failure: ConnectFailure) => Effect.flatMap(connectFailure(url, tls, failure), Effect.fail)))

/** How often the backup stream's peer is asked for a PING, and how long it has to answer. */
export interface Keepalive {
  readonly intervalMillis: number
  readonly timeoutMillis: number
}

// a backup's body can pause for minutes (the tool waiting for its locks); PINGs tell that from a peer that is gone
const defaultKeepalive: Keepalive = { intervalMillis: 30_000, timeoutMillis: 30_000 }

/**
 * PINGs the stream's session while it is open. An instance manager whose node vanished, or a partition, sends
 * no FIN: without this the worker would wait for bytes until the Job's deadline (6 hours by default). A peer
 * that does not answer in time (`peerSilent`) gets its stream destroyed with the reason, which the body reports.
 */
const pingUntilSilent = (stream: ClientHttp2Stream, keepalive: Keepalive): Effect.Effect<void> =>
  Effect.gen(function* () {
    while (!stream.destroyed) {
      yield* Effect.sleep(keepalive.intervalMillis)
      if ((yield* peerSilent(stream.session, keepalive.timeoutMillis)) && !stream.destroyed) {
        return stream.destroy(
          new Error(
            `the instance manager did not answer a PING within ${keepalive.timeoutMillis / 1000} s: its node or the network is gone`
          )
        )
      }
    }
  })

/**
 * Starts a backup: `GET /cluster/backup` on `baseUrl` (e.g. `https://db1-1.db1.ns.svc:8443`) over HTTP/2.
 * Closing the scope before the body ended disconnects, which makes the instance manager stop the tool.
 */
export const startBackup = Effect.fn("InstanceManagerClient.startBackup")(function* (
  baseUrl: string,
  tls: ClientTls,
  keepalive: Keepalive = defaultKeepalive
) {
  const url = new URL(paths.backup, baseUrl)
  const { stream, headers } = yield* openStream(url, tls)
  const status = Number(headers[":status"])
  if (status !== 200) {
    const text = yield* Effect.promise(() => readResponseBody(stream))
    return yield* new XtraBackupFailed({
      tool: "backup",
      detail: `instance manager refused the backup: ${statusMessage(text, status)}`
    })
  }
  const start = yield* decodeBackupStart(headers).pipe(
    Effect.mapError(
      (error) => new XtraBackupFailed({ tool: "backup", detail: `malformed backup headers: ${error.message}` })
    )
  )
  const tool = start.tool
  yield* Effect.forkScoped(pingUntilSilent(stream, keepalive))
  const ended = yield* Deferred.make<IncomingHttpHeaders, XtraBackupFailed>()
  let trailers: IncomingHttpHeaders = {}
  stream.once("trailers", (received) => {
    trailers = received
  })
  stream.once("end", () => Deferred.doneUnsafe(ended, Effect.succeed(trailers)))
  // after 'end' this is a no-op (the Deferred is done); before it, the stream was reset or the connection lost
  stream.once("close", () =>
    Deferred.doneUnsafe(
      ended,
      Effect.fail(new XtraBackupFailed({ tool, detail: "connection closed before the backup outcome arrived" }))
    )
  )
  // batched: the stream delivers ~8 KiB pieces of TLS records, one Effect pull each would cost more than the bytes
  const body = readableBatches<XtraBackupFailed>({
    evaluate: () => stream,
    // the connection lives as long as the caller's scope, not as long as one read of the body
    closeOnDone: false,
    onError: (error) => new XtraBackupFailed({ tool, detail: `backup stream interrupted: ${describe(error)}` })
  })
  const outcome = Deferred.await(ended).pipe(
    Effect.flatMap((trailers) =>
      decodeBackupOutcome(trailers).pipe(
        Effect.mapError(
          () =>
            new XtraBackupFailed({ tool, detail: "the backup stream ended without an outcome (no exit code trailer)" })
        )
      )
    ),
    Effect.flatMap((result) =>
      result.exitCode === 0 && result.completedOk
        ? Effect.succeed(result)
        : Effect.fail(
            new XtraBackupFailed({
              tool,
              exitCode: result.exitCode,
              detail: result.error === "" ? "the tool did not report completed OK!" : result.error
            })
          )
    )
  )
  const response: BackupResponse = { start, body, outcome }
  return response
})

/** `GET /cluster/status`. Transport failures and non-200 answers are `InstanceManagerTLSFailed`. */
export const getStatus = (baseUrl: string, tls: ClientTls): Effect.Effect<InstanceStatus, InstanceManagerTLSFailed> =>
  Effect.gen(function* () {
    const url = new URL(paths.status, baseUrl)
    const res = yield* open(url, tls)
    const text = yield* Effect.promise(() => readResponseBody(res))
    if (res.statusCode !== 200) {
      return yield* new InstanceManagerTLSFailed({ url: url.href, detail: statusMessage(text, res.statusCode) })
    }
    return yield* Schema.decodeUnknownEffect(Schema.fromJsonString(InstanceStatus))(text).pipe(
      Effect.mapError(
        (error) => new InstanceManagerTLSFailed({ url: url.href, detail: `malformed status: ${error.message}` })
      )
    )
  }).pipe(Effect.scoped)

/** `POST /cluster/flush-binary-logs`: rotates the open binlog file when it holds transactions. */
export const flushBinaryLogs = (
  baseUrl: string,
  tls: ClientTls
): Effect.Effect<FlushResult, InstanceManagerTLSFailed> =>
  Effect.gen(function* () {
    const url = new URL(paths.flushBinaryLogs, baseUrl)
    const res = yield* open(url, tls, "POST")
    const text = yield* Effect.promise(() => readResponseBody(res))
    if (res.statusCode !== 200) {
      return yield* new InstanceManagerTLSFailed({ url: url.href, detail: statusMessage(text, res.statusCode) })
    }
    return yield* Schema.decodeUnknownEffect(Schema.fromJsonString(FlushResult))(text).pipe(
      Effect.mapError(
        (error) => new InstanceManagerTLSFailed({ url: url.href, detail: `malformed flush result: ${error.message}` })
      )
    )
  }).pipe(Effect.scoped)

/** A scripted answer of the test client: a successful stream or a failure to start. */
export type ScriptedBackup =
  | {
      readonly _tag: "Stream"
      readonly start: BackupStart
      readonly chunks: ReadonlyArray<Uint8Array>
      /** The trailers; a non-zero exit or `completedOk: false` makes `outcome` fail as the live client does. */
      readonly outcome: BackupOutcome
    }
  | { readonly _tag: "Refused"; readonly error: InstanceManagerTLSFailed | XtraBackupFailed }

/** The instance manager API as a service, so the worker and the controller can be tested without one. */
export class InstanceManagerClient extends Context.Service<
  InstanceManagerClient,
  {
    readonly startBackup: (
      baseUrl: string
    ) => Effect.Effect<BackupResponse, InstanceManagerTLSFailed | XtraBackupFailed, Scope.Scope>
    readonly getStatus: (baseUrl: string) => Effect.Effect<InstanceStatus, InstanceManagerTLSFailed>
  }
>()("cloudnative-mysql/InstanceManagerClient") {
  /** The real client over mTLS with the given certificate material. */
  static readonly layer = (tls: ClientTls): Layer.Layer<InstanceManagerClient> =>
    Layer.succeed(InstanceManagerClient, {
      startBackup: (baseUrl) => startBackup(baseUrl, tls),
      getStatus: (baseUrl) => getStatus(baseUrl, tls)
    })

  /** A scripted client: `backup` answers every `startBackup`, `status` every `getStatus`. */
  static readonly layerTest = (script: {
    readonly backup: ScriptedBackup
    readonly status?: InstanceStatus
  }): Layer.Layer<InstanceManagerClient> =>
    Layer.succeed(InstanceManagerClient, {
      startBackup: () => {
        const backup = script.backup
        if (backup._tag === "Refused") return Effect.fail(backup.error)
        const { outcome, start } = backup
        const response: BackupResponse = {
          start,
          body: Stream.fromIterable(backup.chunks),
          outcome:
            outcome.exitCode === 0 && outcome.completedOk
              ? Effect.succeed(outcome)
              : Effect.fail(
                  new XtraBackupFailed({ tool: start.tool, exitCode: outcome.exitCode, detail: outcome.error })
                )
        }
        return Effect.succeed(response)
      },
      getStatus: (baseUrl) =>
        script.status === undefined
          ? Effect.fail(new InstanceManagerTLSFailed({ url: baseUrl, detail: "no status scripted" }))
          : Effect.succeed(script.status)
    })
}
