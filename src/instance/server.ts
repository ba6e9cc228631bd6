/**
 * The instance manager's two listeners (docs/instance-manager.md):
 * - plain HTTP for kubelet probes: `/healthz` (the process and, when supervised, the server process are alive)
 *   and `/readyz` (the server answers a query), and for Prometheus: `/metrics` (metrics.ts);
 * - mTLS (`requestCert` + `rejectUnauthorized` against the cluster CA) for `/cluster/status`,
 *   `/cluster/backup` and `POST /cluster/flush-binary-logs` (the binlog archiver's rotation), speaking HTTP/2
 *   (the backup worker) and HTTP/1.1 (any other client) on one port.
 *
 * Both are plain `node:http`/`node:http2` servers driven by Effect handlers, not the Effect HTTP server: the
 * backup response needs HTTP trailers (`res.addTrailers`), which `HttpServerResponse` cannot express, and
 * `stdout.pipe(res)` gives exact backpressure (socket or HTTP/2 flow-control window) with no intermediate
 * buffering. HTTP/2 because receiving it costs the worker less CPU per byte than HTTP/1.1 chunked: the
 * TLS records are framed in C++ instead of going through the JS HTTP parser one by one (bench:transport,
 * docs/performance.md); the contract (body = the tool's stdout, outcome in trailers) is the same in both.
 *
 * @since 0.1.0
 */
import { createServer as createHttpServer, type IncomingMessage } from "node:http"
import { createSecureServer, type Http2ServerRequest } from "node:http2"
import type { Socket } from "node:net"
import type { TLSSocket } from "node:tls"
import { Clock, Effect, FiberSet, Option, Redacted } from "effect"
import { listenScoped } from "../platform/listen.ts"
import { streamBackup } from "./backupSession.ts"
import { makeBackupSlot } from "./backupSlot.ts"
import { flushBinaryLogs } from "./binlogFlush.ts"
import { backupToolVersion, type DatabaseAccess, makeDatabaseAccess, ping, queryStatus } from "./database.ts"
import type { Flavor, ServerAddress } from "./flavor.ts"
import { type BackupSessions, renderInstanceMetrics, type SessionResult } from "./metrics.ts"
import { apiFailure, type InstanceStatus, paths, probePaths } from "./protocol.ts"
import { type ApiResponse, writeHead } from "./response.ts"

/** Everything the listeners need; built from `InstanceManagerEnv` by main.ts. */
export interface InstanceManagerOptions {
  readonly flavor: Flavor
  readonly address: ServerAddress
  readonly user: string
  readonly password: Redacted.Redacted<string>
  /** PEM: cluster CA (client certificates must chain to it), this server's certificate and key. */
  readonly tls: { readonly ca: string; readonly cert: string; readonly key: string }
  readonly listenAddress: string
  readonly apiPort: number
  readonly probePort: number
  readonly killGraceMillis: number
  /** How long the running backup's HTTP/2 client gets to answer a PING before a new request ends it. */
  readonly pingTimeoutMillis?: number
  readonly parallel?: number
  /** Liveness of a supervised server process; absent when attached to an externally managed server. */
  readonly serverAlive?: () => boolean
}

/** A running instance manager. */
export interface InstanceManager {
  readonly apiPort: number
  readonly probePort: number
  /** PID of the backup tool while a backup runs. */
  readonly backupPid: () => number | undefined
}

// SIGKILL after the grace is final; the margin covers reaping the tool and the session's finalizers
const stopMarginMillis = 5_000
// a live worker answers at once from its event loop; 10 s spares one that is briefly starved of CPU
const defaultPingTimeoutMillis = 10_000

const json = (res: ApiResponse, code: number, body: unknown): void => {
  const text = JSON.stringify(body)
  writeHead(res, code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  res.end(text)
}

const peerName = (req: IncomingMessage | Http2ServerRequest): string => {
  const socket = req.socket as TLSSocket
  const subject = socket.getPeerCertificate?.()?.subject
  return subject?.CN === undefined ? "unknown" : String(subject.CN)
}

/** Starts both listeners for the lifetime of the scope; closing it stops a running backup tool. */
export const serveInstanceManager = Effect.fn("InstanceManager.serve")(function* (options: InstanceManagerOptions) {
  const access: DatabaseAccess = yield* makeDatabaseAccess(options)
  const toolVersion = yield* backupToolVersion(options.flavor)
  const run = yield* FiberSet.makeRuntime<never, void, never>()
  const secrets = [Redacted.value(options.password)]
  let backupPid: number | undefined
  const slot = makeBackupSlot({
    stopWaitMillis: options.killGraceMillis + stopMarginMillis,
    pingTimeoutMillis: options.pingTimeoutMillis ?? defaultPingTimeoutMillis
  })
  const sessions = {
    ended: { completed: 0, failed: 0, aborted: 0 } as Record<SessionResult, number>,
    streamedBytes: 0,
    last: undefined as BackupSessions["last"]
  }

  const status = Effect.gen(function* () {
    const server = yield* queryStatus(access)
    const body: InstanceStatus = { ...server, ready: true, flavor: options.flavor.name, backupRunning: slot.held() }
    return body
  })

  const handleStatus = (res: ApiResponse) =>
    status.pipe(
      Effect.match({
        onSuccess: (body) => json(res, 200, body),
        onFailure: (error) => json(res, 503, apiFailure(503, "DatabaseUnavailable", error.message))
      })
    )

  const handleBackup = (res: ApiResponse, client: string) =>
    Effect.gen(function* () {
      const taken = yield* Effect.result(slot.acquire(res))
      if (taken._tag === "Failure") {
        const refusal = taken.failure
        yield* Effect.logWarning("backup refused", { reason: refusal._tag, detail: refusal.message })
        return json(res, 409, apiFailure(409, refusal._tag, refusal.message))
      }
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          backupPid = undefined
        })
      )
      // Best effort: the tool's own exit code is the authority on whether a backup can be taken, and its
      // outcome reaches the client in the trailers; a failed status query only leaves the begin position empty.
      const begin = yield* Effect.result(queryStatus(access))
      if (begin._tag === "Failure") {
        yield* Effect.logWarning("begin position unknown: status query failed", {
          client,
          detail: begin.failure.detail
        })
      }
      const startedAt = yield* Clock.currentTimeMillis
      let bytes = 0
      let toolStarted = false
      const outcome = yield* streamBackup(res, {
        access,
        toolVersion,
        begin:
          begin._tag === "Success"
            ? { beginGtid: begin.success.executedGtid, beginBinlog: begin.success.binlog }
            : { beginGtid: "", beginBinlog: null },
        killGraceMillis: options.killGraceMillis,
        secrets,
        onStarted: (pid) => {
          backupPid = pid
          toolStarted = true
        },
        onBytes: (n) => {
          bytes += n
          sessions.streamedBytes += n
        },
        ...(options.parallel === undefined ? {} : { parallel: options.parallel })
      })
      // no outcome: the client went away (the tool was stopped), or the tool never started
      const result: SessionResult =
        outcome === undefined
          ? toolStarted
            ? "aborted"
            : "failed"
          : outcome.exitCode === 0 && outcome.completedOk
            ? "completed"
            : "failed"
      sessions.ended[result] += 1
      sessions.last = { bytes, durationSeconds: ((yield* Clock.currentTimeMillis) - startedAt) / 1000, result }
    }).pipe(Effect.scoped, Effect.annotateLogs({ client }))

  const handleFlush = (res: ApiResponse, client: string) =>
    flushBinaryLogs(access).pipe(
      Effect.tap((result) => Effect.logInfo("binary logs flushed", { client, ...result })),
      Effect.match({
        onSuccess: (body) => json(res, 200, body),
        onFailure: (error) => json(res, 503, apiFailure(503, "DatabaseUnavailable", error.message))
      })
    )

  const route = (req: IncomingMessage | Http2ServerRequest, res: ApiResponse) => {
    const path = new URL(req.url ?? "/", "https://instance").pathname
    if (path === paths.flushBinaryLogs) {
      return req.method === "POST"
        ? handleFlush(res, peerName(req))
        : Effect.sync(() => json(res, 405, apiFailure(405, "MethodNotAllowed", "only POST")))
    }
    if (req.method !== "GET") return Effect.sync(() => json(res, 405, apiFailure(405, "MethodNotAllowed", "only GET")))
    if (path === paths.status) return handleStatus(res)
    if (path === paths.backup) return handleBackup(res, peerName(req))
    return Effect.sync(() => json(res, 404, apiFailure(404, "NotFound", `no route for ${path}`)))
  }

  const api = createSecureServer(
    {
      ca: options.tls.ca,
      cert: options.tls.cert,
      key: options.tls.key,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      allowHTTP1: true
    },
    (req, res) => {
      run(
        route(req, res).pipe(
          Effect.catchCause((cause) =>
            Effect.logError("request failed", { path: req.url, cause: String(cause) }).pipe(
              Effect.andThen(
                Effect.sync(() => {
                  if (!res.headersSent) json(res, 500, apiFailure(500, "InternalError", "internal error"))
                  else res.destroy()
                })
              )
            )
          )
        )
      )
    }
  )
  // HTTP/2 sessions and HTTP/1.1 keep-alive connections outlive their requests: closing must not wait for them
  const connections = new Set<Socket>()
  api.on("connection", (socket: Socket) => {
    connections.add(socket)
    socket.once("close", () => connections.delete(socket))
  })
  api.on("tlsClientError", (error: Error & { code?: string }, socket) => {
    run(
      Effect.logWarning("TLS client rejected", {
        remote: socket.remoteAddress,
        code: error.code,
        detail: error.message
      })
    )
  })

  const probe = createHttpServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://probe").pathname
    if (path === probePaths.healthz) {
      const alive = options.serverAlive?.() ?? true
      res.writeHead(alive ? 200 : 503, { "content-type": "text/plain" }).end(alive ? "ok\n" : "server process down\n")
      return
    }
    if (path === probePaths.readyz) {
      run(
        Effect.map(ping(access), (ready) => {
          res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready\n" : "not ready\n")
        })
      )
      return
    }
    if (path === probePaths.metrics) {
      run(
        Effect.gen(function* () {
          const server = yield* Effect.option(queryStatus(access))
          const body = yield* renderInstanceMetrics({
            status: Option.getOrUndefined(server),
            flavor: options.flavor.name,
            sessions: { ...sessions, ended: { ...sessions.ended }, running: slot.held() }
          })
          res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(body)
        })
      )
      return
    }
    res.writeHead(404).end()
  })

  const apiPort = yield* listenScoped(api, options.apiPort, options.listenAddress, () => {
    for (const socket of connections) socket.destroy()
  })
  const probePort = yield* listenScoped(probe, options.probePort, options.listenAddress)
  yield* Effect.logInfo("instance manager listening", {
    apiPort,
    probePort,
    flavor: options.flavor.name,
    tool: options.flavor.backupTool,
    toolVersion
  })
  const manager: InstanceManager = { apiPort, probePort, backupPid: () => backupPid }
  return manager
})
