/**
 * Benchmark of the download path (`npm run bench:download`). Not a test: it prints numbers.
 *
 * Puts one object of `BENCH_BYTES` (default 1 GiB; `128MiB`, `1GiB` or a byte count) of random data into
 * Ceph RGW (src/sandbox/rgw/start.sh, or the one in `RGW_STATE_DIR`) and reads it back, each reader in its
 * own child process (so its CPU time and peak RSS are its own):
 *
 * - `raw_drain`: `ObjectStoreClient.getObject` drained, no hashing;
 * - `verified_single`: `verifiedObjectStream` with one GET (the restore default);
 * - `verified_ranged`: `verifiedObjectStream` with `BENCH_CONCURRENCY` (4) ranged GETs of `BENCH_RANGE_MIB` (16);
 * - `verified_to_child`: the restore's path without the extractor's own work: the verified single GET written
 *   into a child process's stdin (`cat` to /dev/null) through `runTool`, as restore feeds `mbstream -x`;
 * - `rclone_cat`: `rclone cat` of the same object to /dev/null, the reference (null when rclone is missing).
 *
 * `BENCH_NODE_FLAGS` (default: the data movers' flags, `dataMoverNodeFlags`, as restore runs) are the readers'
 * Node flags, see `childFlags`.
 *
 * `BENCH_REPEAT` rounds (default 3) in rotating order; each reader reports its best round (the machine is
 * shared, the best round is the least disturbed one) and the CPU seconds of that round (its own process,
 * every thread, module loading excluded), next to the floor measured in the same run (`floor_*`: one
 * SHA-256 pass per GiB from `openssl speed`). The last line printed is one JSON object.
 */
import { spawn, spawnSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Stream } from "effect"
import type { ObjectStoreConnection } from "../src/objectstore/connection.ts"
import { ObjectStoreClient } from "../src/objectstore/ObjectStoreClient.ts"
import { verifiedObjectStream } from "../src/pipeline/download.ts"
import { runTool } from "../src/recovery/tool.ts"
import { launchRgw } from "../src/sandbox/rgw/rgw.ts"
import { createBucket, staticConnection } from "../src/sandbox/s3Endpoint.ts"
import { benchNodeFlags, measureFloor } from "./support/processCpu.ts"

const MiB = 1024 * 1024
const self = join(import.meta.dirname, "download.ts")
const log = (...args: ReadonlyArray<unknown>) => console.error("[bench]", ...args)

const parseBytes = (text: string | undefined, fallback: number): number => {
  if (text === undefined || text === "") return fallback
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/iu.exec(text.trim())
  if (m === null) throw new Error(`cannot parse a byte size from ${JSON.stringify(text)}`)
  const factor = { b: 1, kib: 1024, mib: MiB, gib: 1024 * MiB }[(m[2] ?? "B").toLowerCase()] ?? 1
  return Math.round(Number(m[1]) * factor)
}

interface Target {
  readonly endpoint: string
  readonly bucket: string
  readonly accessKey: string
  readonly secretKey: string
  readonly region: string
}

type Reader = "raw_drain" | "verified_single" | "verified_ranged" | "verified_to_child"

interface ChildSpec {
  readonly reader: Reader
  readonly target: Target
  readonly key: string
  readonly expected: { readonly sha256: string; readonly size: number }
  readonly concurrency: number
  readonly rangeSize: number
}

interface Measured {
  readonly seconds: number
  readonly cpuSeconds: number
  readonly maxRssMiB: number
}

const connectionOf = (t: Target): ObjectStoreConnection => staticConnection(t, t.bucket)

/** One reader, timed from the first request to the last byte (module loading excluded). */
const runChild = async (spec: ChildSpec): Promise<Measured> => {
  const stream: Stream.Stream<Uint8Array, unknown, ObjectStoreClient> =
    spec.reader === "raw_drain"
      ? Stream.unwrap(
          Effect.gen(function* () {
            const s3 = yield* ObjectStoreClient
            return s3.getObject(spec.key)
          })
        )
      : verifiedObjectStream(spec.key, spec.expected, {
          concurrency: spec.reader === "verified_ranged" ? spec.concurrency : 1,
          rangeSize: spec.rangeSize
        })
  let bytes = 0
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  const counted = Stream.mapArray(stream, (chunks) => {
    for (const c of chunks) bytes += c.length
    return chunks
  })
  await Effect.runPromise(
    (spec.reader === "verified_to_child"
      ? Effect.flatMap(runTool("cat", [], { stdin: counted }), (r) =>
          r.exitCode === 0 ? Effect.void : Effect.die(new Error(`cat exited ${r.exitCode}`))
        )
      : Stream.runDrain(counted)
    ).pipe(Effect.provide(ObjectStoreClient.layer(connectionOf(spec.target))))
  )
  const seconds = (performance.now() - start) / 1000
  if (bytes !== spec.expected.size)
    throw new Error(`${spec.reader} read ${bytes} bytes, expected ${spec.expected.size}`)
  const cpu = process.cpuUsage(cpu0)
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssMiB: process.resourceUsage().maxRSS / 1024 }
}

const child = (spec: ChildSpec): Promise<Measured> =>
  new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...childFlags, self, "--child"], {
      env: { ...process.env, BENCH_CHILD: JSON.stringify(spec) },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString()
    })
    p.on("error", reject)
    p.on("close", (code) => {
      if (code !== 0) return reject(new Error(`child ${spec.reader} exited ${code}: ${out.slice(-2000)}`))
      resolve(JSON.parse(out.trim().split("\n").at(-1) ?? "") as Measured)
    })
  })

/** `rclone cat` of the object to /dev/null, or null when rclone is missing or fails. */
const rcloneCat = (t: Target, key: string): Measured | null => {
  if (spawnSync("bash", ["-c", "command -v rclone"]).status !== 0) return null
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "AWS_CA_BUNDLE") env[k] = v
  Object.assign(env, {
    RCLONE_CONFIG_BENCH_TYPE: "s3",
    RCLONE_CONFIG_BENCH_PROVIDER: "Ceph",
    RCLONE_CONFIG_BENCH_ENDPOINT: t.endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: t.accessKey,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: t.secretKey,
    RCLONE_CONFIG_BENCH_REGION: t.region,
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: "true"
  })
  const script = `TIMEFORMAT='%R %U %S'; { time rclone cat bench:${t.bucket}/${key} > /dev/null 2>/dev/null; } 2>&1`
  const r = spawnSync("bash", ["-c", script], { env, encoding: "utf8", timeout: 900_000 })
  const times = r.stdout.trim().split("\n").at(-1)?.split(" ").map(Number) ?? []
  const [real, user, sys] = times
  if (r.status !== 0 || real === undefined || user === undefined || sys === undefined) return null
  return { seconds: real, cpuSeconds: user + sys, maxRssMiB: Number.NaN }
}

/**
 * The readers' Node flags: by default those restore runs with (src/cli/nodeFlags.ts); `BENCH_NODE_FLAGS=""` runs
 * them with V8's defaults, `BENCH_NODE_FLAGS=--max-semi-space-size=2` with one of them.
 */
const childFlags = benchNodeFlags()

const mbps = (bytes: number, seconds: number): number => Math.round((bytes / 1e6 / seconds) * 10) / 10

/** The object: random 64 MiB parts uploaded with our client; returns its SHA-256. */
const putObject = (target: Target, key: string, size: number): Promise<string> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const s3 = yield* ObjectStoreClient
      const hash = createHash("sha256")
      const uploadId = yield* s3.createMultipartUpload(key)
      const parts: Array<{ partNumber: number; etag: string }> = []
      for (let offset = 0, n = 1; offset < size; offset += 64 * MiB, n++) {
        const body = randomBytes(Math.min(64 * MiB, size - offset))
        hash.update(body)
        parts.push(yield* s3.uploadPart(key, uploadId, n, body))
      }
      yield* s3.completeMultipartUpload(key, uploadId, parts)
      return hash.digest("hex")
    }).pipe(Effect.provide(ObjectStoreClient.layer(connectionOf(target))))
  )

const main = async () => {
  const size = parseBytes(process.env.BENCH_BYTES, 1024 * MiB)
  const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3))
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4)
  const rangeSize = Number(process.env.BENCH_RANGE_MIB ?? 16) * MiB
  log("starting RGW")
  const rgw = await launchRgw(mkdtempSync(join(tmpdir(), "bench-download-rgw-")), {
    storeGb: Math.ceil((size / (1024 * MiB)) * 3) + 4
  })
  try {
    const target: Target = { ...rgw.endpoints, bucket: `bench-download-${Date.now().toString(36)}` }
    await createBucket(target, target.bucket)
    const key = "object"
    log(`putting ${size} bytes`)
    const expected = { sha256: await putObject(target, key, size), size }

    const readers: ReadonlyArray<Reader | "rclone_cat"> = [
      "raw_drain",
      "verified_single",
      "verified_ranged",
      "verified_to_child",
      "rclone_cat"
    ]
    const best = new Map<string, Measured | null>()
    for (let round = 0; round < repeat; round++) {
      for (let i = 0; i < readers.length; i++) {
        const reader = readers[(i + round) % readers.length] ?? "raw_drain"
        const m =
          reader === "rclone_cat"
            ? rcloneCat(target, key)
            : await child({ reader, target, key, expected, concurrency, rangeSize })
        log(
          `round ${round + 1} ${reader}: ${m === null ? "n/a" : `${mbps(size, m.seconds)} MB/s, ${m.cpuSeconds.toFixed(2)} CPU-s`}`
        )
        const previous = best.get(reader)
        if (m !== null && (previous === undefined || previous === null || m.seconds < previous.seconds))
          best.set(reader, m)
        else if (previous === undefined) best.set(reader, null)
      }
    }
    const floor = await measureFloor()
    const result: Record<string, unknown> = {
      floor_sha256_cpu_s_per_gib: floor.sha256,
      floor_node_sha256_cpu_s_per_gib: floor.nodeSha256,
      node_flags: childFlags.join(" "),
      bytes: size,
      rounds: repeat,
      ranged_concurrency: concurrency,
      range_mib: rangeSize / MiB
    }
    for (const reader of readers) {
      const m = best.get(reader) ?? null
      result[`${reader}_mbps`] = m === null ? null : mbps(size, m.seconds)
      result[`${reader}_cpu_s_per_gib`] =
        m === null ? null : Math.round((m.cpuSeconds / (size / (1024 * MiB))) * 100) / 100
      if (reader !== "rclone_cat") result[`${reader}_peak_rss_mib`] = m === null ? null : Math.round(m.maxRssMiB)
    }
    console.log(JSON.stringify(result))
  } finally {
    await rgw.stop()
  }
}

if (process.argv.includes("--child")) {
  const spec = JSON.parse(process.env.BENCH_CHILD ?? "{}") as ChildSpec
  runChild(spec).then(
    (m) => {
      console.log(JSON.stringify(m))
      process.exit(0)
    },
    (error: unknown) => {
      console.error(error)
      process.exit(1)
    }
  )
} else {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
