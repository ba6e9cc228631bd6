/**
 * The live `ArchiverStatusClient` against a real HTTP server on loopback: every way an archiver can fail to
 * report (an error status, an answer that is not a status, no answer, nothing listening) is an
 * `ArchiverStatusUnavailable` naming the URL and why, never a defect or a hang.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { ArchiverStatusClient } from "../../src/controller/binlogArchiving/ArchiverStatusClient.ts"

const withServer = Effect.acquireRelease(
  Effect.callback<{ readonly base: string; readonly server: ReturnType<typeof createServer> }>((resume) => {
    const server = createServer((request, response) => {
      if (request.url === "/unavailable") response.writeHead(503).end("starting")
      else if (request.url === "/garbage") response.writeHead(200, { "content-type": "application/json" }).end("{oops")
      // "/silent": the request is left open, as a hung archiver leaves it
    })
    server.listen(0, "127.0.0.1", () =>
      resume(
        Effect.succeed({
          base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          server
        })
      )
    )
  }),
  ({ server }) =>
    Effect.sync(() => {
      // the silent route's request is still open
      server.closeAllConnections()
      server.close()
    })
)

const failure = (url: string) =>
  ArchiverStatusClient.use((client) => Effect.flip(client.status(url))).pipe(Effect.provide(ArchiverStatusClient.layer))

describe("ArchiverStatusClient (live, plain HTTP)", () => {
  it.live(
    "an error status, a body that is not a status, no answer and no listener are each ArchiverStatusUnavailable",
    () =>
      Effect.gen(function* () {
        const { base } = yield* withServer
        const unavailable = yield* failure(`${base}/unavailable`)
        assert.strictEqual(unavailable._tag, "ArchiverStatusUnavailable")
        assert.strictEqual(unavailable.url, `${base}/unavailable`)
        assert.include(unavailable.detail, "HTTP 503")
        const garbage = yield* failure(`${base}/garbage`)
        assert.match(garbage.detail, /^not a status: /u)
        const silent = yield* failure(`${base}/silent`)
        assert.strictEqual(silent.detail, "no answer within 5 seconds")
        const closed = yield* failure("http://127.0.0.1:1/status")
        assert.strictEqual(closed._tag, "ArchiverStatusUnavailable")
        assert.include(closed.message, "http://127.0.0.1:1/status did not report")
      }).pipe(Effect.scoped),
    30_000
  )
})
