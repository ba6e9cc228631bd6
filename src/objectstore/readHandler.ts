/**
 * The SDK request handler of the live client: reads (GET) go through undici, everything else through
 * `@smithy/node-http-handler` (node:http).
 *
 * Why reads take another HTTP client: node:http's client parser copies every body chunk out of the
 * socket's read buffer, so each downloaded byte is allocated twice as external (ArrayBuffer) memory.
 * V8 starts a full mark-compact for every ~64 MB of external memory, and in a process that holds the SDK
 * and Effect (a ~35 MB heap) those collections cost more CPU than receiving the bytes: measured on
 * loopback RGW, draining 1 GiB took ~3.3 CPU-s with node:http and ~1.9 CPU-s with undici, whose
 * parser hands the body out as views of the socket's reads. On 2 cores shared with the object store this
 * is the download rate.
 *
 * Writes stay on node:http: undici refuses `Expect: 100-continue`, which the SDK sends for large bodies.
 *
 * Both clients get the same socket limits, TLS trust, connect timeout and socket (inactivity) timeout.
 *
 * @since 0.1.0
 */
import type { ConnectionOptions } from "node:tls"
import type { NodeHttpHandler } from "@smithy/node-http-handler"
import type { HttpHandlerOptions, QueryParameterBag } from "@smithy/types"
import { Agent, request } from "undici"

/** Settings shared by the read client and node:http. */
export interface ReadClientOptions {
  readonly maxSockets: number
  readonly connectTimeoutMillis: number
  /** Time without a byte from the server (headers or body) before the request fails. */
  readonly socketTimeoutMillis: number
  readonly tls: Pick<ConnectionOptions, "ca" | "rejectUnauthorized">
}

/** RFC 3986 escaping as the SDK's own `buildQueryString` does it. */
const rfc3986 = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

const queryString = (query: QueryParameterBag | undefined): string => {
  const parts: Array<string> = []
  for (const name of Object.keys(query ?? {}).sort()) {
    const value = query?.[name]
    const key = rfc3986(name)
    if (value === null || value === undefined) parts.push(key)
    else if (Array.isArray(value)) for (const v of value) parts.push(`${key}=${rfc3986(v)}`)
    else parts.push(`${key}=${rfc3986(value)}`)
  }
  return parts.length === 0 ? "" : `?${parts.join("&")}`
}

/** The request as the SDK hands it to its handler. */
type SdkRequest = Parameters<NodeHttpHandler["handle"]>[0]

const urlOf = (req: SdkRequest): string => {
  const port = req.port === undefined ? "" : `:${req.port}`
  const fragment = req.fragment === undefined ? "" : `#${req.fragment}`
  return `${req.protocol}//${req.hostname}${port}${req.path}${queryString(req.query)}${fragment}`
}

/** The SDK's request handler: GET without a body through undici, the rest through `nodeHandler`. */
export class ReadThroughUndiciHandler {
  readonly #nodeHandler: NodeHttpHandler
  readonly #agent: Agent

  constructor(nodeHandler: NodeHttpHandler, options: ReadClientOptions) {
    this.#nodeHandler = nodeHandler
    this.#agent = new Agent({
      connections: options.maxSockets,
      headersTimeout: options.socketTimeoutMillis,
      bodyTimeout: options.socketTimeoutMillis,
      connect: { ...options.tls, timeout: options.connectTimeoutMillis }
    })
  }

  readonly metadata = { handlerProtocol: "http/1.1" }

  async handle(req: SdkRequest, options: HttpHandlerOptions = {}): ReturnType<NodeHttpHandler["handle"]> {
    if (req.method !== "GET" || req.body !== undefined) return this.#nodeHandler.handle(req, options)
    const signal = options.abortSignal
    const res = await request(urlOf(req), {
      method: "GET",
      headers: req.headers,
      dispatcher: this.#agent,
      // the SDK passes a standard AbortSignal (the fiber's); its deprecated shape has no listeners to hand on
      ...(signal instanceof AbortSignal ? { signal } : {})
    })
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(res.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(",") : value
    }
    return { response: { statusCode: res.statusCode, headers, body: res.body } }
  }

  updateHttpClientConfig(...args: Parameters<NodeHttpHandler["updateHttpClientConfig"]>): void {
    this.#nodeHandler.updateHttpClientConfig(...args)
  }

  httpHandlerConfigs(): ReturnType<NodeHttpHandler["httpHandlerConfigs"]> {
    return this.#nodeHandler.httpHandlerConfigs()
  }

  destroy(): void {
    this.#nodeHandler.destroy()
    void this.#agent.destroy()
  }
}
