/**
 * The API's responses in both protocols it speaks on one port: node:http's `ServerResponse` (HTTP/1.1
 * clients) and node:http2's compatibility `Http2ServerResponse` (the backup worker). They share what the
 * handlers use but not their TypeScript overloads, so the few calls that differ go through here.
 *
 * @since 0.1.0
 */
import type { OutgoingHttpHeaders, ServerResponse } from "node:http"
import type { Http2ServerResponse } from "node:http2"

/** A response of either protocol. */
export type ApiResponse = ServerResponse | Http2ServerResponse

/** The response as an event emitter ('close', 'finish', 'error', 'drain'). */
export const events = (res: ApiResponse): NodeJS.EventEmitter => res

/** Status line (HTTP/1.1) or `:status` (HTTP/2) and headers. */
export const writeHead = (res: ApiResponse, status: number, headers: OutgoingHttpHeaders): void => {
  if ("stream" in res) res.writeHead(status, headers)
  else res.writeHead(status, headers)
}

/** The connection (HTTP/1.1) or the stream (HTTP/2) is gone: nothing more can be sent. */
export const isClosed = (res: ApiResponse): boolean => ("stream" in res ? res.stream.destroyed : res.destroyed)
