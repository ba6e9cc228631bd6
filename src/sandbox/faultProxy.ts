/**
 * A loopback HTTP reverse proxy in front of an S3 server that injects faults, to prove retries and clean
 * failures against real network behaviour (tests and `bench/faults.ts`):
 *
 * - `Error`: answer with an S3 error document (e.g. 503 `SlowDown`, 500 `InternalError`) without
 *   forwarding (the request body is drained first, as a server would);
 * - `Reset`: reset the TCP connection as soon as the request arrives;
 * - `Stall`: never answer (the proxy notes when the client gives up and closes the connection);
 * - `Delay`: answer normally, `millis` late (a slow server);
 * - `CutResponse`: forward, but cut the connection after `afterBytes` bytes of the response body;
 * - `CutRequest`: forward, but reset the connection after `afterBytes` bytes of the request body (a
 *   connection lost mid-upload).
 *
 * Faults come from rules (method, a query parameter's presence, a path pattern, the nth matching request) or,
 * after the rules, from a decider called with each request (e.g. a seeded random one). An observer sees every
 * request body chunk before it is forwarded, and may drop it (the fault run kills a worker at an exact byte).
 * Every request is recorded (method, URL, headers, the fault applied) so tests can assert what the client
 * sent (signature scheme, SSE headers, session token …). Headers are forwarded untouched (the Host
 * header included), so signatures still verify upstream. With `tls` it listens on https (what a client
 * sends over TLS is then as observable as over plain HTTP).
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo, Socket } from "node:net"
import { Effect, type Fiber, FiberSet, type Scope } from "effect"

/** What to do with a matching request. */
export type FaultAction =
  | { readonly _tag: "Error"; readonly status: number; readonly code: string; readonly message?: string }
  | { readonly _tag: "Reset" }
  | { readonly _tag: "Stall" }
  | { readonly _tag: "Delay"; readonly millis: number }
  | { readonly _tag: "CutResponse"; readonly afterBytes: number }
  | { readonly _tag: "CutRequest"; readonly afterBytes: number }

/** When to apply an action. All given conditions must hold. */
export interface FaultRule {
  readonly method?: string
  /** A query parameter that must be present, e.g. `partNumber`, `uploads`, `uploadId`. */
  readonly query?: string
  readonly path?: RegExp
  /** Only the nth request that matches the conditions above (1-based); default: every one. */
  readonly nth?: number
  readonly action: FaultAction
}

/** A request the proxy saw. */
export interface RecordedRequest {
  readonly method: string
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
  readonly fault?: FaultAction["_tag"]
}

/** What a decider sees of a request: method, URL (path and query), headers. */
export interface ProxiedRequest {
  readonly method: string
  readonly url: URL
  readonly headers: http.IncomingHttpHeaders
}

/** Decides a fault for a request no rule matched (`undefined`: forward it untouched). */
export type FaultDecider = (request: ProxiedRequest) => FaultAction | undefined

/** Sees each chunk of a request body before it is forwarded; `"drop"`: reset the connection instead. */
export type BodyObserver = (request: ProxiedRequest, chunk: Buffer) => undefined | "drop"

/** A running proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>` (`https://` with `tls`): use as the S3 endpoint. */
  readonly endpoint: string
  readonly requests: ReadonlyArray<RecordedRequest>
  /** Replace the rules (matching counters restart). */
  readonly setRules: (rules: ReadonlyArray<FaultRule>) => void
  /** Replace the decider consulted after the rules. */
  readonly setDecider: (decider: FaultDecider | undefined) => void
  /** Replace the request-body observer. */
  readonly setObserver: (observer: BodyObserver | undefined) => void
  /** How many stalled requests the client abandoned (closed its connection). */
  readonly abandonedStalls: () => number
  readonly close: () => Promise<void>
}

const errorDocument = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`

/** PEM certificate and key the proxy serves https with. */
export interface ProxyTls {
  readonly cert: string
  readonly key: string
}

/** Forks an effect for the proxy's lifetime (its `Delay` timers); interrupted when the proxy closes. */
type RunInProxy = (effect: Effect.Effect<void>) => Fiber.Fiber<void>

/** Start a proxy on 127.0.0.1 (ephemeral port) in front of `upstream` (`http://host:port`). */
const startFaultProxy = async (upstream: string, tls: ProxyTls | undefined, run: RunInProxy): Promise<FaultProxy> => {
  const target = new URL(upstream)
  const requests: Array<RecordedRequest> = []
  const sockets = new Set<Socket>()
  let rules: ReadonlyArray<FaultRule> = []
  let decider: FaultDecider | undefined
  let observer: BodyObserver | undefined
  let matches: Array<number> = []
  let abandoned = 0

  const proxied = (req: http.IncomingMessage): ProxiedRequest => ({
    method: req.method ?? "",
    url: new URL(req.url ?? "/", "http://proxy"),
    headers: req.headers
  })

  const pick = (req: http.IncomingMessage): FaultAction | undefined => {
    const url = new URL(req.url ?? "/", "http://proxy")
    for (const [i, rule] of rules.entries()) {
      if (rule.method !== undefined && rule.method !== req.method) continue
      if (rule.query !== undefined && !url.searchParams.has(rule.query)) continue
      if (rule.path !== undefined && !rule.path.test(url.pathname)) continue
      matches[i] = (matches[i] ?? 0) + 1
      if (rule.nth !== undefined && rule.nth !== matches[i]) continue
      return rule.action
    }
    return decider?.(proxied(req))
  }

  const forward = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    cutAfter: number | undefined,
    cutRequestAfter: number | undefined = undefined
  ) => {
    const upstreamReq = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers)
        if (cutAfter === undefined) {
          upstreamRes.pipe(res)
          return
        }
        let sent = 0
        upstreamRes.on("data", (chunk: Buffer) => {
          const room = cutAfter - sent
          if (room > 0) res.write(chunk.subarray(0, room))
          sent += chunk.length
          if (sent >= cutAfter) {
            upstreamRes.destroy()
            res.socket?.destroy()
          }
        })
        upstreamRes.on("end", () => res.end())
      }
    )
    upstreamReq.on("error", () => res.socket?.destroy())
    const seen = observer === undefined ? undefined : { observe: observer, request: proxied(req) }
    let received = 0
    req.on("data", (chunk: Buffer) => {
      if (seen?.observe(seen.request, chunk) === "drop") {
        upstreamReq.destroy()
        req.socket.resetAndDestroy()
        return
      }
      received += chunk.length
      if (cutRequestAfter !== undefined && received >= cutRequestAfter) {
        const room = chunk.length - (received - cutRequestAfter)
        if (room > 0) upstreamReq.write(chunk.subarray(0, room))
        upstreamReq.destroy()
        req.socket.resetAndDestroy()
        return
      }
      if (!upstreamReq.write(chunk)) {
        req.pause()
        upstreamReq.once("drain", () => req.resume())
      }
    })
    req.on("end", () => upstreamReq.end())
    // a client that went away mid-body (killed, reset) must not leave the upstream request open
    req.on("close", () => {
      if (!req.complete) upstreamReq.destroy()
    })
  }

  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const action = pick(req)
    requests.push({
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      ...(action === undefined ? {} : { fault: action._tag })
    })
    switch (action?._tag) {
      case undefined:
        return forward(req, res, undefined)
      case "CutResponse":
        return forward(req, res, action.afterBytes)
      case "CutRequest":
        return forward(req, res, undefined, action.afterBytes)
      case "Delay": {
        req.pause()
        const delayed = run(
          Effect.andThen(
            Effect.sleep(action.millis),
            Effect.sync(() => {
              // listen first: a paused stream's buffered body must not flow before someone reads it
              forward(req, res, undefined)
              req.resume()
            })
          )
        )
        res.on("close", () => delayed.interruptUnsafe())
        return
      }
      case "Reset":
        req.socket.resetAndDestroy()
        return
      case "Stall":
        req.resume()
        res.on("close", () => {
          if (!res.writableEnded) abandoned += 1
        })
        return
      case "Error":
        req.resume()
        req.on("end", () => {
          const body = errorDocument(action.code, action.message ?? `injected ${action.code}`)
          res.writeHead(action.status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) })
          res.end(body)
        })
        return
    }
  }
  const server = tls === undefined ? http.createServer(handle) : https.createServer(tls, handle)
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo

  return {
    endpoint: `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}`,
    requests,
    setRules: (next) => {
      rules = next
      matches = []
    },
    setDecider: (next) => {
      decider = next
    },
    setObserver: (next) => {
      observer = next
    },
    abandonedStalls: () => abandoned,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}

/** The proxy as a scoped resource: closed with the scope. */
export const faultProxy = (upstream: string, tls?: ProxyTls): Effect.Effect<FaultProxy, never, Scope.Scope> =>
  Effect.gen(function* () {
    // made before the proxy, so it is closed after it: a delayed request is interrupted once the server is gone
    const run = yield* FiberSet.makeRuntime<never, void, never>()
    return yield* Effect.acquireRelease(
      Effect.promise(() => startFaultProxy(upstream, tls, run)),
      (proxy) => Effect.promise(() => proxy.close())
    )
  })
