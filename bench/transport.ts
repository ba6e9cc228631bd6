/**
 * The worker ↔ instance manager transport alone (`npm run bench:transport`): `BENCH_BYTES` (default 1 GiB) of a
 * child process's stdout (`head -c N /dev/zero`, standing in for the backup tool) served over mutual TLS and
 * drained by a client, each side in its own process so each reports its own CPU:
 *
 * - `h1`: HTTP/1.1 chunked with trailers, `stdout.pipe(res)` (what the instance manager does);
 * - `h1_batched`: the same, but the server gathers the pipe's 64 KiB reads into writes of `BENCH_BATCH_KIB`
 *   (default 1024) before they reach the response;
 * - `h2`: HTTP/2 with native trailers (`waitForTrailers`), `stdout.pipe(stream)`, 1 MiB frames allowed and a
 *   16 MiB connection and stream window.
 *
 * Per variant and side: CPU-seconds per GiB (best of `BENCH_REPEAT`, default 3 rounds), the number of body
 * chunks the client saw and its MB/s. The last stdout line is one JSON object. The machine is shared: trust
 * CPU-seconds, not MB/s.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import * as http2 from "node:http2"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from "../src/instance/pki.ts"

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const self = join(import.meta.dirname, "transport.ts")
/** `BENCH_NODE_FLAGS`: extra Node flags for both sides (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`, read with bench/profile.ts). */
const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter((f) => f !== "")

type Variant = "h1" | "h1_batched" | "h2"
interface Pki {
  readonly ca: string
  readonly serverCert: string
  readonly serverKey: string
  readonly clientCert: string
  readonly clientKey: string
}

const cpuSeconds = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

const tool = (bytes: number): ChildProcess =>
  spawn("head", ["-c", String(bytes), "/dev/zero"], { stdio: ["ignore", "pipe", "ignore"] })

/** Gathers a readable's chunks into writes of at least `batch` bytes (one copy per batch). */
const pipeBatched = (from: NodeJS.ReadableStream, to: NodeJS.WritableStream, batch: number, done: () => void) => {
  let parts: Array<Buffer> = []
  let size = 0
  const flush = () => {
    if (size === 0) return true
    const ok = to.write(Buffer.concat(parts, size))
    parts = []
    size = 0
    return ok
  }
  from.on("data", (chunk: Buffer) => {
    parts.push(chunk)
    size += chunk.length
    if (size >= batch && !flush()) {
      from.pause()
      to.once("drain", () => from.resume())
    }
  })
  from.on("end", () => {
    flush()
    done()
  })
}

/** Server role: serves one response per request and prints its own CPU for it on stdout. */
const server = (variant: Variant, pki: Pki, bytes: number, batch: number) => {
  const tls = { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requestCert: true, rejectUnauthorized: true }
  let before = 0
  const report = () => process.stdout.write(`${JSON.stringify({ cpuSeconds: cpuSeconds() - before })}\n`)
  if (variant === "h2") {
    const s = http2.createSecureServer({
      ...tls,
      settings: { maxFrameSize: MiB, initialWindowSize: 16 * MiB }
    })
    s.on("session", (session) => session.setLocalWindowSize(16 * MiB))
    s.on("stream", (stream) => {
      before = cpuSeconds()
      const child = tool(bytes)
      stream.respond({ ":status": 200, "content-type": "application/octet-stream" }, { waitForTrailers: true })
      stream.on("wantTrailers", () => stream.sendTrailers({ "x-exit-code": "0" }))
      child.stdout?.pipe(stream)
      stream.on("close", report)
    })
    s.listen(0, "127.0.0.1", () => process.stdout.write(`${(s.address() as AddressInfo).port}\n`))
    return
  }
  const s = https.createServer(tls, (_req, res) => {
    before = cpuSeconds()
    const child = tool(bytes)
    res.writeHead(200, { "content-type": "application/octet-stream", trailer: "x-exit-code" })
    const end = () => {
      res.addTrailers({ "x-exit-code": "0" })
      res.end()
    }
    const stdout = child.stdout
    if (stdout === null) throw new Error("no stdout")
    if (variant === "h1") {
      stdout.pipe(res, { end: false })
      stdout.on("end", end)
    } else pipeBatched(stdout, res, batch, end)
    res.on("finish", report)
  })
  s.listen(0, "127.0.0.1", () => process.stdout.write(`${(s.address() as AddressInfo).port}\n`))
}

interface ClientResult {
  readonly cpuSeconds: number
  readonly seconds: number
  readonly bytes: number
  readonly chunks: number
  readonly trailer: string
}

/** Client role: one request, body drained, trailers read; prints its own CPU. */
const client = (variant: Variant, pki: Pki, port: number): Promise<ClientResult> =>
  new Promise((resolve, reject) => {
    const tls = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }
    const start = performance.now()
    const before = cpuSeconds()
    let bytes = 0
    let chunks = 0
    const done = (trailer: string) =>
      resolve({
        cpuSeconds: cpuSeconds() - before,
        seconds: (performance.now() - start) / 1000,
        bytes,
        chunks,
        trailer
      })
    if (variant === "h2") {
      const session = http2.connect(`https://127.0.0.1:${port}`, {
        ...tls,
        settings: { maxFrameSize: MiB, initialWindowSize: 16 * MiB }
      })
      session.on("connect", () => session.setLocalWindowSize(16 * MiB))
      session.on("error", reject)
      const req = session.request({ ":path": "/cluster/backup" })
      let trailer = ""
      req.on("trailers", (t) => {
        trailer = String(t["x-exit-code"])
      })
      req.on("data", (c: Buffer) => {
        bytes += c.length
        chunks++
      })
      req.on("end", () => {
        session.close()
        done(trailer)
      })
      req.end()
      return
    }
    const req = https.request({ host: "127.0.0.1", port, path: "/cluster/backup", agent: false, ...tls }, (res) => {
      res.on("data", (c: Buffer) => {
        bytes += c.length
        chunks++
      })
      res.on("end", () => done(String(res.trailers["x-exit-code"])))
    })
    req.on("error", reject)
    req.end()
  })

const pkiOf = async (): Promise<Pki> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const ca = yield* createCertificateAuthority({ commonName: "bench CA" })
      const server = yield* issueServerCertificate(ca, { commonName: "bench", names: ["127.0.0.1"] })
      const client = yield* issueClientCertificate(ca, { commonName: "bench-client" })
      return {
        ca: ca.certificate,
        serverCert: server.certificate,
        serverKey: server.privateKey,
        clientCert: client.certificate,
        clientKey: client.privateKey
      }
    })
  )

const lines = (child: ChildProcess, onLine: (line: string) => void) => {
  let partial = ""
  child.stdout?.setEncoding("utf8")
  child.stdout?.on("data", (text: string) => {
    const parts = (partial + text).split("\n")
    partial = parts.pop() ?? ""
    for (const line of parts) onLine(line)
  })
}

const round = (variant: Variant, pkiFile: string, bytes: number, batch: number) =>
  new Promise<{ server: number; client: ClientResult }>((resolve, reject) => {
    const srv = spawn(
      process.execPath,
      [...nodeFlags, self, "--server", variant, pkiFile, String(bytes), String(batch)],
      {
        stdio: ["ignore", "pipe", "inherit"]
      }
    )
    let clientResult: ClientResult | undefined
    let serverCpu: number | undefined
    const finish = () => {
      if (clientResult === undefined || serverCpu === undefined) return
      srv.kill("SIGTERM")
      resolve({ server: serverCpu, client: clientResult })
    }
    lines(srv, (line) => {
      if (!line.startsWith("{")) {
        const cli = spawn(process.execPath, [...nodeFlags, self, "--client", variant, pkiFile, line], {
          stdio: ["ignore", "pipe", "inherit"]
        })
        lines(cli, (l) => {
          if (l.startsWith("{")) {
            clientResult = JSON.parse(l) as ClientResult
            finish()
          }
        })
        cli.once("close", (code) => code !== 0 && reject(new Error(`client exited ${code}`)))
        return
      }
      serverCpu = (JSON.parse(line) as { cpuSeconds: number }).cpuSeconds
      finish()
    })
    srv.once("close", (code, signal) => signal === null && code !== 0 && reject(new Error(`server exited ${code}`)))
  })

const parseBytes = (text: string | undefined): number => {
  const m = /^(\d+)\s*(MiB|GiB)?$/iu.exec(text ?? "")
  if (m === null) return GiB
  return Number(m[1]) * ((m[2] ?? "").toLowerCase() === "gib" ? GiB : (m[2] ?? "") === "" ? 1 : MiB)
}

const main = async () => {
  const bytes = parseBytes(process.env.BENCH_BYTES)
  const batch = Number(process.env.BENCH_BATCH_KIB ?? 1024) * 1024
  const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3))
  const pkiFile = join(mkdtempSync(join(tmpdir(), "cnm-bench-transport-")), "pki.json")
  writeFileSync(pkiFile, JSON.stringify(await pkiOf()), { mode: 0o600 })
  const variants: ReadonlyArray<Variant> = ["h1", "h1_batched", "h2"]
  const best = new Map<Variant, { server: number; client: ClientResult }>()
  for (let r = 0; r < repeat; r++) {
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(i + r) % variants.length] ?? "h1"
      const m = await round(variant, pkiFile, bytes, batch)
      if (m.client.bytes !== bytes || m.client.trailer !== "0") throw new Error(`${variant}: incomplete response`)
      process.stderr.write(
        `round ${r + 1} ${variant}: client ${(m.client.cpuSeconds / (bytes / GiB)).toFixed(2)} CPU-s/GiB, server ${(m.server / (bytes / GiB)).toFixed(2)} CPU-s/GiB, ${m.client.chunks} chunks\n`
      )
      const previous = best.get(variant)
      if (previous === undefined || m.client.cpuSeconds + m.server < previous.client.cpuSeconds + previous.server)
        best.set(variant, m)
    }
  }
  const result: Record<string, unknown> = { bytes, rounds: repeat, batch_kib: batch / 1024 }
  for (const [variant, m] of best) {
    result[`${variant}_client_cpu_s_per_gib`] = Math.round((m.client.cpuSeconds / (bytes / GiB)) * 100) / 100
    result[`${variant}_server_cpu_s_per_gib`] = Math.round((m.server / (bytes / GiB)) * 100) / 100
    result[`${variant}_client_chunks`] = m.client.chunks
    result[`${variant}_mbps`] = Math.round((bytes / 1e6 / m.client.seconds) * 10) / 10
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

const [role, variant, pkiFile, arg, arg2] = process.argv.slice(2)
if (role === "--server") {
  server(variant as Variant, JSON.parse(readFileSync(pkiFile ?? "", "utf8")) as Pki, Number(arg), Number(arg2))
  process.once("SIGTERM", () => process.exit(0))
} else if (role === "--client") {
  const pki = JSON.parse(readFileSync(pkiFile ?? "", "utf8")) as Pki
  client(variant as Variant, pki, Number(arg)).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`)
      process.exit(0)
    },
    (error: unknown) => {
      console.error(error)
      process.exit(1)
    }
  )
} else {
  await main()
}
