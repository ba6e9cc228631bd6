/**
 * Benchmark of the streaming data path (`npm run bench:pipeline`). Not a test: it prints numbers.
 *
 * For a synthetic stream of `BENCH_BYTES` (default 1 GiB; accepts `128MiB`, `1GiB`, or a byte count) it
 * starts Ceph RGW (src/sandbox/rgw/start.sh, or reuses `RGW_STATE_DIR`) and s3rver itself, then measures on
 * the same data, each uploader in its own child process (so its peak RSS is its own):
 *
 * - (a) `ours`: `uploadStream` (SHA-256 + multipart);
 * - (b) `sink_only`: the same multipart sink with the same part settings, no hash;
 * - (c) `lib_storage`: `@aws-sdk/lib-storage` `Upload` (same part size and queue size) + a separate hash;
 * - (d) `rclone rcat` and (e) `aws s3 cp -`, fed by `generator | tee fifo | tool` with `openssl dgst -sha256`
 *   reading the fifo (null when the tool is missing or fails);
 * - verified download (single GET and parallel ranged GETs);
 * - peak RSS of (a) at 1× and 4× BENCH_BYTES.
 *
 * The data: a 4 MiB block of seeded pseudo-random bytes, emitted as `BENCH_CHUNK` (default 64 KiB) slices at
 * a moving offset, so no two parts are equal and generating costs no CPU worth mentioning.
 *
 * (a), (b) and (c) run `BENCH_REPEAT` rounds (default 2) in rotating order; each reports its best round
 * (the machine is shared, so the best round is the least disturbed one) and its highest peak RSS.
 *
 * Knobs: BENCH_BYTES, BENCH_CHUNK, BENCH_PART_MIB (16), BENCH_CONCURRENCY (4),
 * BENCH_S3RVER=0 to skip s3rver, BENCH_4X=0 to skip the 4× run, RGW_STATE_DIR to reuse a running RGW.
 * The last line printed is one JSON object.
 */
import { spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PassThrough, Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { DeleteObjectCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { Upload } from "@aws-sdk/lib-storage"
import { Effect, References, Semaphore, Stream } from "effect"
import type { ObjectStoreConnection } from "../src/objectstore/connection.ts"
import { ObjectStoreClient } from "../src/objectstore/ObjectStoreClient.ts"
import { s3ClientConfig } from "../src/objectstore/s3Client.ts"
import { cutParts, PartBufferPool } from "../src/pipeline/bytes.ts"
import { verifiedObjectStream } from "../src/pipeline/download.ts"
import { defaultPartSchedule, type PartSchedule } from "../src/pipeline/partSchedule.ts"
import { defaultRetryPolicy, withRetry } from "../src/pipeline/retry.ts"
import { memoryBound, uploadStream } from "../src/pipeline/upload.ts"
import { launchRgw } from "../src/sandbox/rgw/rgw.ts"
import { createBucket, staticConnection } from "../src/sandbox/s3Endpoint.ts"
import { startS3rver as startSandboxS3rver } from "../src/sandbox/s3rver.ts"

const MiB = 1024 * 1024
const self = join(import.meta.dirname, "pipeline.ts")

const parseBytes = (text: string | undefined, fallback: number): number => {
  if (text === undefined || text === "") return fallback
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?$/iu.exec(text.trim())
  if (m === null) throw new Error(`cannot parse a byte size from ${JSON.stringify(text)}`)
  const unit = (m[2] ?? "B").toLowerCase()
  const factor = { b: 1, kib: 1024, mib: MiB, gib: 1024 * MiB, tib: 1024 * 1024 * MiB }[unit] ?? 1
  return Math.round(Number(m[1]) * factor)
}

// ---------------------------------------------------------------------------------------------------------
// the data

const blockSize = 4 * MiB
const makeBlock = (): Buffer => {
  const block = Buffer.allocUnsafe(blockSize)
  let x = 0x9e3779b9
  for (let i = 0; i < blockSize; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    block.writeUInt32LE(x >>> 0, i)
  }
  return block
}

/** `bytes` of synthetic data as `chunk`-sized views (an odd stride keeps parts distinct). */
function* synthetic(bytes: number, chunk: number): Generator<Buffer> {
  const block = makeBlock()
  let offset = 0
  for (let sent = 0; sent < bytes; sent += chunk) {
    const n = Math.min(chunk, bytes - sent)
    if (offset + n > blockSize) offset = (offset * 31 + 4099) % (blockSize - n)
    yield block.subarray(offset, offset + n)
    offset += n + 17
  }
}

// ---------------------------------------------------------------------------------------------------------
// child processes: one measurement each

interface Target {
  readonly endpoint: string
  readonly bucket: string
  readonly accessKey: string
  readonly secretKey: string
  readonly region: string
}

interface ChildSpec {
  readonly mode: "ours" | "sink" | "libstorage" | "download"
  readonly target: Target
  readonly key: string
  readonly bytes: number
  readonly chunk: number
  readonly partSize: number
  readonly concurrency: number
  readonly expected?: { readonly sha256: string; readonly size: number }
}

interface ChildResult {
  readonly seconds: number
  readonly bytes: number
  readonly sha256?: string
  readonly maxRssMiB: number
  readonly peakBytesInFlight?: number
}

const connectionOf = (t: Target): ObjectStoreConnection => staticConnection(t, t.bucket)

const scheduleOf = (spec: ChildSpec): PartSchedule => ({ ...defaultPartSchedule, initialPartSize: spec.partSize })

const runChild = async (spec: ChildSpec): Promise<Omit<ChildResult, "maxRssMiB">> => {
  const layer = ObjectStoreClient.layer(connectionOf(spec.target))
  // one chunk per batch, as NodeStream.fromReadable delivers a socket's reads
  const source = () => Stream.fromIterable(synthetic(spec.bytes, spec.chunk), { chunkSize: 1 })
  const start = performance.now()
  const elapsed = () => (performance.now() - start) / 1000
  switch (spec.mode) {
    case "ours": {
      const r = await Effect.runPromise(
        uploadStream(source(), {
          key: spec.key,
          schedule: scheduleOf(spec),
          uploadConcurrency: spec.concurrency
        }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Warn"))
      )
      return { seconds: elapsed(), bytes: r.size, sha256: r.sha256, peakBytesInFlight: r.peakBytesInFlight }
    }
    case "sink": {
      const bytes = await Effect.runPromise(
        Effect.gen(function* () {
          // the upload branch of uploadStream on its own: same cutting, buffer pool, read-ahead, retries and
          // concurrency
          const s3 = yield* ObjectStoreClient
          const retry = withRetry(defaultRetryPolicy)
          const pool = new PartBufferPool(spec.concurrency + 2)
          const uploadId = yield* s3.createMultipartUpload(spec.key)
          const slots = yield* Semaphore.make(spec.concurrency)
          const parts = yield* source().pipe(
            cutParts(scheduleOf(spec), pool),
            Stream.mapEffect(
              (p) =>
                Semaphore.withPermit(slots, retry(s3.uploadPart(spec.key, uploadId, p.partNumber, p.body))).pipe(
                  Effect.map((done) => {
                    pool.give(p.body)
                    return { done, n: p.body.length }
                  })
                ),
              { concurrency: spec.concurrency + 1 }
            ),
            Stream.runCollect
          )
          yield* s3.completeMultipartUpload(
            spec.key,
            uploadId,
            parts.map((p) => p.done)
          )
          return parts.reduce((n, p) => n + p.n, 0)
        }).pipe(Effect.provide(layer))
      )
      return { seconds: elapsed(), bytes }
    }
    case "libstorage": {
      const client = new S3Client(s3ClientConfig(connectionOf(spec.target)))
      const hash = createHash("sha256")
      let bytes = 0
      const body = new PassThrough({ highWaterMark: spec.chunk })
      const feeding = pipeline(
        Readable.from(synthetic(spec.bytes, spec.chunk)),
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            hash.update(chunk)
            bytes += chunk.length
            yield chunk
          }
        },
        body
      )
      const upload = new Upload({
        client,
        params: { Bucket: spec.target.bucket, Key: spec.key, Body: body },
        partSize: spec.partSize,
        queueSize: spec.concurrency,
        leavePartsOnError: true
      })
      await Promise.all([upload.done(), feeding])
      client.destroy()
      return { seconds: elapsed(), bytes, sha256: hash.digest("hex") }
    }
    case "download": {
      if (spec.expected === undefined) throw new Error("download needs expected")
      const expected = spec.expected
      await Effect.runPromise(
        Stream.runDrain(
          verifiedObjectStream(spec.key, expected, {
            concurrency: spec.concurrency,
            rangeSize: spec.partSize
          })
        ).pipe(Effect.provide(layer))
      )
      return { seconds: elapsed(), bytes: expected.size }
    }
  }
}

const child = (spec: ChildSpec): Promise<ChildResult> =>
  new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [self, "--child"], {
      env: { ...process.env, BENCH_CHILD: JSON.stringify(spec) },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString()
    })
    p.on("error", reject)
    p.on("close", (code) => {
      const last = out.trim().split("\n").at(-1) ?? ""
      if (code !== 0) return reject(new Error(`child ${spec.mode} exited ${code}: ${out.slice(-2000)}`))
      resolve(JSON.parse(last) as ChildResult)
    })
  })

// ---------------------------------------------------------------------------------------------------------
// external tools, fed by `generator | tee fifo | tool`

/** `env` entries set to `undefined` are removed from the inherited environment. */
const sh = (script: string, env: Record<string, string | undefined>, timeoutMs = 900_000) => {
  const merged: Record<string, string> = {}
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) merged[k] = v
  return spawnSync("bash", ["-c", script], { env: merged, encoding: "utf8", timeout: timeoutMs })
}

const has = (bin: string): boolean => sh(`command -v ${bin}`, {}).status === 0

interface ToolResult {
  readonly seconds: number
  readonly sha256: string
  readonly maxRssMiB: number | null
}

/** Runs `tool` (reading stdin) behind the generator and a tee to `openssl dgst -sha256`. */
const throughTee = (
  tool: string,
  env: Record<string, string | undefined>,
  bytes: number,
  chunk: number
): ToolResult | string => {
  const dir = mkdtempSync(join(tmpdir(), "bench-tee-"))
  try {
    const fifo = join(dir, "fifo")
    const timeBin = existsSync("/usr/bin/time") ? `/usr/bin/time -f %M -o ${dir}/rss ` : ""
    const script = [
      "set -o pipefail",
      `mkfifo ${fifo}`,
      `openssl dgst -sha256 -r < ${fifo} > ${dir}/sha &`,
      "hasher=$!",
      `start=$(date +%s.%N)`,
      `"${process.execPath}" "${self}" --generate ${bytes} ${chunk} | tee ${fifo} | ${timeBin}${tool}`,
      "status=$?",
      "wait $hasher",
      `end=$(date +%s.%N)`,
      `echo "$start $end" > ${dir}/time`,
      "exit $status"
    ].join("\n")
    const r = sh(script, env)
    if (r.status !== 0) return `exit ${r.status}: ${(r.stderr ?? "").slice(-800)}`
    const [start, end] = readFileSync(join(dir, "time"), "utf8").trim().split(" ").map(Number) as [number, number]
    const rss = existsSync(join(dir, "rss"))
      ? Number(readFileSync(join(dir, "rss"), "utf8").trim().split("\n").at(-1))
      : NaN
    return {
      seconds: end - start,
      sha256: readFileSync(join(dir, "sha"), "utf8").trim().split(" ")[0] ?? "",
      maxRssMiB: Number.isFinite(rss) ? Math.round(rss / 1024) : null
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const rcloneEnv = (t: Target, provider: string): Record<string, string | undefined> => ({
  // rclone cannot load a CA bundle into its http transport and fails; the endpoint is plain http anyway
  AWS_CA_BUNDLE: undefined,
  RCLONE_CONFIG_BENCH_TYPE: "s3",
  RCLONE_CONFIG_BENCH_PROVIDER: provider,
  RCLONE_CONFIG_BENCH_ENDPOINT: t.endpoint,
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: t.accessKey,
  RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: t.secretKey,
  RCLONE_CONFIG_BENCH_REGION: t.region,
  RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: "true"
})

const awsEnv = (t: Target, dir: string, partSize: number, concurrency: number): Record<string, string> => {
  const config = join(dir, "aws-config")
  writeFileSync(
    config,
    [
      "[default]",
      `region = ${t.region}`,
      "request_checksum_calculation = when_required",
      "response_checksum_validation = when_required",
      "s3 =",
      `  multipart_chunksize = ${partSize}`,
      `  max_concurrent_requests = ${concurrency}`,
      "  addressing_style = path",
      ""
    ].join("\n")
  )
  return {
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: join(dir, "none"),
    AWS_ACCESS_KEY_ID: t.accessKey,
    AWS_SECRET_ACCESS_KEY: t.secretKey,
    AWS_DEFAULT_REGION: t.region
  }
}

// ---------------------------------------------------------------------------------------------------------
// servers

interface Server {
  readonly target: (bucket: string) => Target
  readonly stop: () => Promise<void>
}

const startRgw = async (storeGb: number): Promise<Server> => {
  const rgw = await launchRgw(mkdtempSync(join(tmpdir(), "bench-rgw-")), { storeGb })
  return { target: (bucket) => ({ ...rgw.endpoints, bucket }), stop: rgw.stop }
}

const startS3rver = async (bucket: string): Promise<Server> => {
  const server = await Effect.runPromise(startSandboxS3rver({ bucket }))
  return { target: (name) => ({ ...server, region: "us-east-1", bucket: name }), stop: server.stop }
}

const sdk = (t: Target) => new S3Client(s3ClientConfig(connectionOf(t)))

const headSize = async (t: Target, key: string): Promise<number> => {
  const c = sdk(t)
  try {
    return (await c.send(new HeadObjectCommand({ Bucket: t.bucket, Key: key }))).ContentLength ?? -1
  } finally {
    c.destroy()
  }
}

const remove = async (t: Target, key: string): Promise<void> => {
  const c = sdk(t)
  try {
    await c.send(new DeleteObjectCommand({ Bucket: t.bucket, Key: key }))
  } finally {
    c.destroy()
  }
}

// ---------------------------------------------------------------------------------------------------------
// orchestration

const mbps = (bytes: number, seconds: number): number => Math.round((bytes / 1e6 / seconds) * 10) / 10

const main = async () => {
  const bytes = parseBytes(process.env.BENCH_BYTES, 1024 * MiB)
  const chunk = parseBytes(process.env.BENCH_CHUNK, 64 * 1024)
  const partSize = Number(process.env.BENCH_PART_MIB ?? 16) * MiB
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4)
  const withS3rver = process.env.BENCH_S3RVER !== "0"
  const with4x = process.env.BENCH_4X !== "0"
  const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 2))
  const log = (...args: ReadonlyArray<unknown>) => console.error("[bench]", ...args)

  const expectedSha = (() => {
    const h = createHash("sha256")
    for (const c of synthetic(bytes, chunk)) h.update(c)
    return h.digest("hex")
  })()
  const dir = mkdtempSync(join(tmpdir(), "bench-pipeline-"))
  const gib = bytes / (1024 * MiB)
  const servers: Array<Server> = []
  const result: Record<string, unknown> = {
    bytes,
    chunk_bytes: chunk,
    part_size_mib: partSize / MiB,
    upload_concurrency: concurrency,
    rounds: repeat
  }
  try {
    log(`starting RGW (store ${Math.ceil(gib * 12) + 4} GB sparse)`)
    const rgw = await startRgw(Math.ceil(gib * 12) + 4)
    servers.push(rgw)
    const bucket = `bench-${Date.now().toString(36)}`
    const rgwTarget = rgw.target(bucket)
    await createBucket(rgwTarget, bucket)

    const spec = (mode: ChildSpec["mode"], target: Target, key: string, n = bytes): ChildSpec => ({
      mode,
      target,
      key,
      bytes: n,
      chunk,
      partSize,
      concurrency
    })
    const check = async (t: Target, key: string, sha: string | undefined, n = bytes) => {
      const size = await headSize(t, key)
      if (size !== n) throw new Error(`${key}: stored ${size} bytes, expected ${n}`)
      if (sha !== undefined && n === bytes && sha !== expectedSha)
        throw new Error(`${key}: sha256 ${sha} != ${expectedSha}`)
    }

    /** Runs (a), (b), (c) against `target`; returns their results. */
    const nodeRuns = async (target: Target, label: string) => {
      log(`${label}: warm-up`)
      await child(spec("ours", target, "warmup", 64 * MiB))
      await remove(target, "warmup")
      const out: Record<string, ChildResult> = {}
      const modes = ["ours", "sink", "libstorage"] as const
      // the machine is shared: alternate the order between rounds and keep each one's best round
      for (let round = 0; round < repeat; round++) {
        for (const [i] of modes.entries()) {
          const mode = modes[(i + round) % modes.length] ?? "ours"
          const key = `${label}-${mode}`
          log(`${label}: ${mode} (round ${round + 1}/${repeat})`)
          const r = await child(spec(mode, target, key))
          await check(target, key, r.sha256)
          const best = out[mode]
          out[mode] = {
            ...(best === undefined || r.seconds < best.seconds ? r : best),
            maxRssMiB: Math.max(r.maxRssMiB, best?.maxRssMiB ?? 0)
          }
          log(`${label}: ${mode} ${mbps(r.bytes, r.seconds)} MB/s, peak RSS ${r.maxRssMiB} MiB`)
          if (mode !== "ours" || round < repeat - 1) await remove(target, key)
        }
      }
      return out
    }

    const rgwRuns = await nodeRuns(rgwTarget, "rgw")
    const ours = rgwRuns.ours as ChildResult
    result.ours_mbps = mbps(bytes, ours.seconds)
    result.sink_only_mbps = mbps(bytes, (rgwRuns.sink as ChildResult).seconds)
    result.lib_storage_mbps = mbps(bytes, (rgwRuns.libstorage as ChildResult).seconds)
    result.peak_rss_mib = ours.maxRssMiB
    result.sink_only_peak_rss_mib = (rgwRuns.sink as ChildResult).maxRssMiB
    result.lib_storage_peak_rss_mib = (rgwRuns.libstorage as ChildResult).maxRssMiB
    result.peak_bytes_in_flight_mib = Math.round(((ours.peakBytesInFlight ?? 0) / MiB) * 10) / 10
    result.memory_bound_mib =
      Math.round(
        (memoryBound({
          uploadConcurrency: concurrency,
          partSize,
          largestSourceBatch: chunk
        }) /
          MiB) *
          10
      ) / 10

    const tool = (name: string, bin: string, command: string, env: Record<string, string | undefined>) => {
      if (!has(bin)) {
        log(`${name}: not installed`)
        return null
      }
      log(`${name}`)
      const r = throughTee(command, env, bytes, chunk)
      if (typeof r === "string") {
        log(`${name}: failed (${r})`)
        return null
      }
      if (r.sha256 !== expectedSha) log(`${name}: tee sha256 ${r.sha256} != ${expectedSha}`)
      log(`${name}: ${mbps(bytes, r.seconds)} MB/s, peak RSS ${r.maxRssMiB} MiB`)
      return r
    }
    const rclone = tool(
      "rclone rcat",
      "rclone",
      `rclone rcat --s3-chunk-size ${partSize / MiB}M --s3-upload-concurrency ${concurrency} bench:${bucket}/rclone`,
      rcloneEnv(rgwTarget, "Ceph")
    )
    if (rclone !== null) await check(rgwTarget, "rclone", undefined).then(() => remove(rgwTarget, "rclone"))
    result.rclone_mbps = rclone === null ? null : mbps(bytes, rclone.seconds)
    result.rclone_peak_rss_mib = rclone?.maxRssMiB ?? null
    const awscli = tool(
      "aws s3 cp -",
      "aws",
      `aws s3 cp - s3://${bucket}/awscli --endpoint-url ${rgwTarget.endpoint} --expected-size ${bytes} --only-show-errors`,
      awsEnv(rgwTarget, dir, partSize, concurrency)
    )
    const awsOk = awscli !== null && (await headSize(rgwTarget, "awscli").catch(() => -1)) === bytes
    if (awscli !== null && !awsOk) log("aws s3 cp -: the stored object has the wrong size")
    if (awscli !== null) await remove(rgwTarget, "awscli")
    result.awscli_mbps = awscli === null || !awsOk ? null : mbps(bytes, awscli.seconds)
    result.awscli_peak_rss_mib = awsOk ? (awscli?.maxRssMiB ?? null) : null

    log("download: single GET")
    const expected = { sha256: expectedSha, size: bytes }
    const single = await child({ ...spec("download", rgwTarget, "rgw-ours"), concurrency: 1, expected })
    result.download_mbps = mbps(bytes, single.seconds)
    result.download_peak_rss_mib = single.maxRssMiB
    log("download: 4 ranged GETs")
    const ranged = await child({ ...spec("download", rgwTarget, "rgw-ours"), concurrency: 4, expected })
    result.download_ranged_mbps = mbps(bytes, ranged.seconds)
    result.download_ranged_peak_rss_mib = ranged.maxRssMiB
    await remove(rgwTarget, "rgw-ours")

    if (with4x) {
      log("ours at 4× BENCH_BYTES")
      const big = await child(spec("ours", rgwTarget, "rgw-ours-4x", 4 * bytes))
      await check(rgwTarget, "rgw-ours-4x", undefined, 4 * bytes)
      await remove(rgwTarget, "rgw-ours-4x")
      result.peak_rss_mib_4x = big.maxRssMiB
      result.ours_mbps_4x = mbps(4 * bytes, big.seconds)
    } else {
      result.peak_rss_mib_4x = null
    }

    if (withS3rver) {
      log("starting s3rver")
      const s3rver = await startS3rver("bench")
      servers.push(s3rver)
      const t = s3rver.target("bench")
      const runs = await nodeRuns(t, "s3rver")
      await remove(t, "s3rver-ours")
      result.s3rver = {
        ours_mbps: mbps(bytes, (runs.ours as ChildResult).seconds),
        sink_only_mbps: mbps(bytes, (runs.sink as ChildResult).seconds),
        lib_storage_mbps: mbps(bytes, (runs.libstorage as ChildResult).seconds),
        peak_rss_mib: (runs.ours as ChildResult).maxRssMiB
      }
    }
  } finally {
    for (const s of servers.reverse()) await s.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  console.log(JSON.stringify(result))
}

const mode = process.argv[2]
if (mode === "--generate") {
  const n = Number(process.argv[3])
  const c = Number(process.argv[4] ?? 64 * 1024)
  await pipeline(Readable.from(synthetic(n, c)), process.stdout)
} else if (mode === "--child") {
  const spec = JSON.parse(process.env.BENCH_CHILD ?? "{}") as ChildSpec
  const r = await runChild(spec)
  const maxRssMiB = Math.round(process.resourceUsage().maxRSS / 1024)
  console.log(JSON.stringify({ ...r, maxRssMiB } satisfies ChildResult))
} else {
  await main()
}
