/** Fixtures for the instance manager tests: PKI, a running instance manager with captured logs, extraction. */
import { spawn } from "node:child_process"
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net"
import { Effect, Logger, Redacted, type Scope, Stream } from "effect"
import type { ClientTls } from "../../src/instance/client.ts"
import { mariadb } from "../../src/instance/flavor.ts"
import type { CertificateAndKey } from "../../src/instance/pki.ts"
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  type PkiError
} from "../../src/instance/pki.ts"
import { type InstanceManager, type InstanceManagerOptions, serveInstanceManager } from "../../src/instance/server.ts"
import type { MariadbInstance } from "../../src/sandbox/mariadb.ts"

/** The cluster CA, a server certificate for loopback, and client certificates good and bad. */
export interface TestPki {
  readonly ca: CertificateAndKey
  readonly server: CertificateAndKey
  readonly client: ClientTls
  readonly foreignClient: ClientTls
  readonly expiredClient: ClientTls
  readonly foreignCa: CertificateAndKey
}

export const makePki: Effect.Effect<TestPki, PkiError> = Effect.gen(function* () {
  const ca = yield* createCertificateAuthority({ commonName: "test cluster CA" })
  const foreignCa = yield* createCertificateAuthority({ commonName: "another CA" })
  const server = yield* issueServerCertificate(ca, { commonName: "db-1", names: ["localhost", "127.0.0.1"] })
  const client = yield* issueClientCertificate(ca, { commonName: "backup-worker" })
  const foreign = yield* issueClientCertificate(foreignCa, { commonName: "intruder" })
  const expired = yield* issueClientCertificate(ca, {
    commonName: "old-worker",
    notBefore: new Date(Date.now() - 40 * 86_400_000),
    notAfter: new Date(Date.now() - 10 * 86_400_000)
  })
  const tls = (pair: CertificateAndKey): ClientTls => ({
    ca: ca.certificate,
    cert: pair.certificate,
    key: pair.privateKey
  })
  return { ca, server, foreignCa, client: tls(client), foreignClient: tls(foreign), expiredClient: tls(expired) }
})

/** Starts an instance manager attached to `db` over its socket, logging JSON lines into `logs`. */
export const startInstanceManager = (
  db: MariadbInstance,
  pki: TestPki,
  credentials: { readonly user: string; readonly password: string },
  logs: Array<string>,
  overrides: Partial<Pick<InstanceManagerOptions, "flavor" | "killGraceMillis" | "pingTimeoutMillis">> = {}
): Effect.Effect<InstanceManager & { readonly url: string }, unknown, Scope.Scope> =>
  serveInstanceManager({
    flavor: mariadb,
    address: { _tag: "Socket", path: db.socket },
    user: credentials.user,
    password: Redacted.make(credentials.password),
    tls: { ca: pki.ca.certificate, cert: pki.server.certificate, key: pki.server.privateKey },
    listenAddress: "127.0.0.1",
    apiPort: 0,
    probePort: 0,
    killGraceMillis: 3000,
    ...overrides
  }).pipe(
    Effect.map((manager) => ({ ...manager, url: `https://127.0.0.1:${manager.apiPort}` })),
    Effect.provide(Logger.layer([Logger.map(Logger.formatJson, (line) => void logs.push(line))]))
  )

/** Pipes `body` into `mbstream -x -C dir` with backpressure; returns bytes seen, mbstream's exit code, marker hits. */
export const extractInto = <E>(body: Stream.Stream<Uint8Array, E>, dir: string, marker: string) =>
  Effect.gen(function* () {
    const child = spawn("mbstream", ["-x", "-C", dir], { stdio: ["pipe", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    const exited = new Promise<number>((resolve) => child.once("close", (code) => resolve(code ?? -1)))
    const needle = Buffer.from(marker)
    let carry = Buffer.alloc(0)
    let bytes = 0
    let markerSeen = false
    yield* Stream.runForEach(body, (chunk) =>
      Effect.callback<void>((resume) => {
        bytes += chunk.length
        const window = Buffer.concat([carry, chunk])
        if (!markerSeen && window.includes(needle)) markerSeen = true
        carry = window.subarray(Math.max(0, window.length - needle.length + 1))
        if (child.stdin.write(chunk)) resume(Effect.void)
        else child.stdin.once("drain", () => resume(Effect.void))
      })
    )
    child.stdin.end()
    const code = yield* Effect.promise(() => exited)
    return { bytes, code, stderr, markerSeen }
  })

/** True while a process with this PID exists. */
export const processExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * A TCP proxy to `port` whose `partition()` stops moving bytes both ways without closing anything: the peer
 * looks connected but answers nothing, as one behind a lost node does.
 */
export const partitionableProxy = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly server: Server; readonly sockets: Set<Socket> }>((resume) => {
      const sockets = new Set<Socket>()
      const server = createServer((client) => {
        const upstream = connect(port, "127.0.0.1")
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on("error", () => undefined)
          socket.once("close", () => sockets.delete(socket))
        }
        client.pipe(upstream)
        upstream.pipe(client)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets })))
    }),
    ({ server, sockets }) =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
        server.close()
      })
  ).pipe(
    Effect.map(({ server, sockets }) => ({
      port: (server.address() as AddressInfo).port,
      partition: () => {
        for (const socket of sockets) {
          socket.unpipe()
          socket.pause()
        }
      }
    }))
  )
