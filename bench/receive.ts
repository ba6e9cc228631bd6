/**
 * The worker's receive side alone (`node bench/receive.ts`): `BENCH_BYTES` (default 512 MiB) of a child's
 * stdout (`head -c N /dev/zero`) served over mutual TLS + HTTP/2 by bench/transport.ts's server, read by the
 * real `startBackup` and the real `uploadStream` (SHA-256, part cutting, the buffer pool) into an object store
 * that acknowledges every part at once. What it measures is everything the worker spends per byte except
 * sending the parts: CPU-seconds per GiB of the client process (start-up excluded), median of `BENCH_REPEAT`
 * (default 3) runs, and its peak RSS, next to the machine's floor measured in the same run (`floor_*`, as
 * bench/backup.ts: `openssl speed` SHA-256 + AES-256-GCM). `BENCH_TREES=label=/path,…` runs the client of several checkouts
 * interleaved (how the levers of docs/performance.md were compared on a shared machine);
 * `BENCH_RECEIVE_MODE=raw` runs a bare HTTP/2 client instead, the floor of this transport. The last stdout
 * line is one JSON object.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import * as http2 from "node:http2"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Option, Stream } from "effect"
import { startBackup } from "../src/instance/client.ts"
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from "../src/instance/pki.ts"
import { encodeBackupOutcome, encodeBackupStart } from "../src/instance/protocol.ts"
import { ObjectStoreClient } from "../src/objectstore/ObjectStoreClient.ts"
import { uploadStream } from "../src/pipeline/upload.ts"
import { benchNodeFlags, measureFloor } from "./support/processCpu.ts"

const MiB = 1024 * 1024
const GiB = 1024 * MiB
/** `BENCH_TREES=label=/path,…`: checkouts whose bench/receive.ts client runs, interleaved (default: this one). */
const trees: ReadonlyArray<readonly [string, string]> =
  process.env.BENCH_TREES === undefined || process.env.BENCH_TREES === ""
    ? [["current", join(import.meta.dirname, "..")]]
    : process.env.BENCH_TREES.split(",").map((entry) => {
        const [label = "", path = ""] = entry.split("=")
        return [label, path] as const
      })
/**
 * `BENCH_NODE_FLAGS`: the client's Node flags, all of them (default: the worker's, `dataMoverNodeFlags` of
 * src/cli/nodeFlags.ts; e.g. `--single-threaded-gc --max-semi-space-size=2 --cpu-prof --cpu-prof-dir=/tmp/p`).
 */
const nodeFlags = benchNodeFlags()

/** Acknowledges every part without sending it: only the receive side's cost remains. */
const discard = Layer.succeed(ObjectStoreClient, {
  bucket: "discard",
  createMultipartUpload: () => Effect.succeed("upload"),
  uploadPart: (_key, _id, partNumber) => Effect.succeed({ partNumber, etag: `"${partNumber}"` }),
  completeMultipartUpload: () => Effect.void,
  abortMultipartUpload: () => Effect.void,
  listMultipartUploads: () => Effect.succeed([]),
  putObject: () => Effect.void,
  headObject: () => Effect.succeed(Option.none()),
  getObject: () => Stream.empty,
  listObjects: () => Stream.empty,
  deleteObject: () => Effect.void
})

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

/** `BENCH_RECEIVE_MODE=raw`: a bare HTTP/2 client that only counts the bytes (the floor of this transport). */
const raw = (pki: Pki, port: number, window: number) =>
  new Promise<{ size: number }>((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      ca: pki.ca,
      cert: pki.clientCert,
      key: pki.clientKey,
      settings: { maxFrameSize: MiB, initialWindowSize: window }
    })
    session.on("connect", () => session.setLocalWindowSize(window))
    session.on("error", reject)
    const req = session.request({ ":path": "/cluster/backup" })
    let size = 0
    req.on("data", (c: Buffer) => {
      size += c.length
    })
    req.on("end", () => {
      session.close()
      resolve({ size })
    })
    req.end()
  })

const client = async (pki: Pki, port: number) => {
  const before = cpuSeconds()
  if (process.env.BENCH_RECEIVE_MODE === "raw") {
    const r = await raw(pki, port, 4 * MiB)
    return { cpuSeconds: cpuSeconds() - before, bytes: r.size, rssMiB: process.resourceUsage().maxRSS / 1024 }
  }
  const result = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const response = yield* startBackup(`https://127.0.0.1:${port}`, {
          ca: pki.ca,
          cert: pki.clientCert,
          key: pki.clientKey
        })
        return yield* uploadStream(response.body, { key: "bench", commit: Effect.asVoid(response.outcome) })
      })
    ).pipe(Effect.provide(discard))
  )
  return { cpuSeconds: cpuSeconds() - before, bytes: result.size, rssMiB: process.resourceUsage().maxRSS / 1024 }
}

/** The instance manager's side, as `backupSession.ts` serves it: the tool's stdout piped into an HTTP/2 stream. */
const serve = (pki: Pki, bytes: number): Promise<http2.Http2SecureServer> =>
  new Promise((resolve) => {
    const s = http2.createSecureServer({
      ca: pki.ca,
      cert: pki.serverCert,
      key: pki.serverKey,
      requestCert: true,
      rejectUnauthorized: true,
      settings: { maxFrameSize: MiB, initialWindowSize: 4 * MiB }
    })
    s.on("stream", (stream) => {
      const child = spawn("head", ["-c", String(bytes), "/dev/zero"], { stdio: ["ignore", "pipe", "ignore"] })
      stream.respond(
        {
          ":status": 200,
          "content-type": "application/octet-stream",
          ...encodeBackupStart({
            flavor: "mariadb",
            tool: "mariabackup",
            toolVersion: "bench",
            beginGtid: "",
            beginBinlog: null,
            startedAt: ""
          })
        },
        { waitForTrailers: true }
      )
      stream.on("wantTrailers", () =>
        stream.sendTrailers(
          encodeBackupOutcome({ exitCode: 0, completedOk: true, endGtid: "", endBinlog: null, error: "" })
        )
      )
      child.stdout.pipe(stream)
    })
    s.listen(0, "127.0.0.1", () => resolve(s))
  })

const round = (tree: string, pki: Pki, pkiFile: string, bytes: number) =>
  new Promise<{ cpuSeconds: number; bytes: number; rssMiB: number }>((resolve, reject) => {
    void serve(pki, bytes).then((srv) => {
      const port = (srv.address() as AddressInfo).port
      const cli = spawn(
        process.execPath,
        [...nodeFlags, join(tree, "bench", "receive.ts"), "--client", pkiFile, String(port)],
        {
          stdio: ["ignore", "pipe", "inherit"]
        }
      )
      let out = ""
      cli.stdout.on("data", (d: Buffer) => (out += d.toString()))
      cli.once("close", (code) => {
        srv.close()
        if (code !== 0) reject(new Error(`client exited ${code}`))
        else resolve(JSON.parse(out.trim().split("\n").at(-1) ?? "{}"))
      })
    })
  })

const [role, pkiFile, port] = process.argv.slice(2)
if (role === "--client") {
  const r = await client(JSON.parse(readFileSync(pkiFile ?? "", "utf8")) as Pki, Number(port))
  process.stdout.write(`${JSON.stringify(r)}\n`)
  process.exit(0)
} else {
  const m = /^(\d+)\s*(MiB|GiB)?$/iu.exec(process.env.BENCH_BYTES ?? "512MiB")
  if (m === null) throw new Error(`BENCH_BYTES: cannot parse ${process.env.BENCH_BYTES}`)
  const bytes = Number(m[1]) * ({ mib: MiB, gib: GiB }[(m[2] ?? "").toLowerCase()] ?? 1)
  const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3))
  const pki = await Effect.runPromise(
    Effect.gen(function* () {
      const ca = yield* createCertificateAuthority({ commonName: "bench CA" })
      const server = yield* issueServerCertificate(ca, { commonName: "bench", names: ["127.0.0.1"] })
      const c = yield* issueClientCertificate(ca, { commonName: "bench-client" })
      return {
        ca: ca.certificate,
        serverCert: server.certificate,
        serverKey: server.privateKey,
        clientCert: c.certificate,
        clientKey: c.privateKey
      }
    })
  )
  const file = join(mkdtempSync(join(tmpdir(), "cnm-bench-receive-")), "pki.json")
  writeFileSync(file, JSON.stringify(pki), { mode: 0o600 })
  const result: Record<string, unknown> = { bytes }
  for (const [label] of trees) result[label] = { runs: [] as Array<number>, peak_rss_mib: 0 }
  for (let i = 0; i < repeat; i++) {
    for (const [label, tree] of trees) {
      const r = await round(tree, pki, file, bytes)
      if (r.bytes !== bytes) throw new Error(`received ${r.bytes} of ${bytes} bytes`)
      const perGiB = Math.round((r.cpuSeconds / (bytes / GiB)) * 100) / 100
      const entry = result[label] as { runs: Array<number>; peak_rss_mib: number }
      entry.runs.push(perGiB)
      entry.peak_rss_mib = Math.max(entry.peak_rss_mib, Math.round(r.rssMiB))
      process.stderr.write(`${label} run ${i + 1}: ${perGiB} CPU-s/GiB, peak RSS ${Math.round(r.rssMiB)} MiB\n`)
    }
  }
  for (const [label] of trees) {
    const entry = result[label] as { runs: Array<number> }
    const sorted = [...entry.runs].sort((a, b) => a - b)
    result[label] = { ...entry, receive_cpu_s_per_gib: sorted[Math.floor(sorted.length / 2)] }
  }
  // the machine's floor in the same run, under the same load (the receive side needs one AES-GCM and one SHA-256 pass)
  const floor = await measureFloor()
  result.floor_cpu_s_per_gib = floor.total
  result.floor_sha256_cpu_s_per_gib = floor.sha256
  result.floor_aes_gcm_cpu_s_per_gib = floor.aes256gcm
  process.stdout.write(`${JSON.stringify(result)}\n`)
}
