/**
 * Where the data movers' CPU goes (`npm run bench:profile`): runs bench/backup.ts with `BENCH_CPU_PROF` (the
 * worker, the instance manager and restore under V8's sampling profiler) and summarises each `.cpuprofile` by
 * self time: the top functions, and categories (hashing, TLS and sockets, HTTP parsing, streams, Effect's
 * runtime, the S3 SDK, GC, module loading, our own code).
 *
 * `BENCH_BYTES` (default 512 MiB) and the other bench/backup.ts variables apply; `BENCH_PHASES` defaults to
 * `restore` here. `node bench/profile.ts <dir>` only summarises the profiles already in `dir`. The sampling
 * profiler costs CPU itself: read shares from here, absolute CPU-seconds from bench:backup.
 *
 * The last stdout line is one JSON object: per profile, the sampled milliseconds and the share of each category.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}
interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

/** The category of a function's self time, from its name and script (first match wins). */
const categories: ReadonlyArray<readonly [string, (frame: CallFrame) => boolean]> = [
  ["idle", (f) => f.functionName === "(idle)"],
  ["gc", (f) => f.functionName === "(garbage collector)"],
  ["native (program)", (f) => f.functionName === "(program)"],
  ["module loading", (f) => /node:internal\/modules|amaro|strip-types|typescript/u.test(f.url)],
  ["hashing", (f) => /internal\/crypto\/hash/u.test(f.url) || /^(update|digest)$/u.test(f.functionName)],
  ["tls + sockets", (f) => /_tls_|node:net|stream_base_commons|internal\/net/u.test(f.url)],
  ["http (node)", (f) => /_http_|node:http|internal\/http/u.test(f.url)],
  ["undici", (f) => /undici/u.test(f.url)],
  ["S3 SDK", (f) => /@aws-sdk|@smithy|@aws-crypto/u.test(f.url)],
  ["node streams", (f) => /internal\/streams|node:stream/u.test(f.url)],
  ["child process + pipes", (f) => /child_process|internal\/child/u.test(f.url)],
  ["Effect runtime + streams", (f) => /node_modules\/(effect|@effect)\//u.test(f.url)],
  ["our code", (f) => /\/src\//u.test(f.url)],
  ["other node internals", (f) => f.url.startsWith("node:")],
  ["other", () => true]
]

const categoryOf = (frame: CallFrame): string => categories.find(([, test]) => test(frame))?.[0] ?? "other"

const shortUrl = (url: string): string => url.replace(/^.*node_modules\//u, "").replace(/^file:\/\/.*\/src\//u, "src/")

/** Self time per node id, over the samples `from` to `to` (inclusive). */
const selfTimes = (profile: CpuProfile, from = 0, to = profile.samples.length - 1): Map<number, number> => {
  const self = new Map<number, number>()
  for (let i = from; i <= to; i++) {
    const id = profile.samples[i]
    if (id !== undefined) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000)
  }
  return self
}

/**
 * The functions that run only while bytes stream (hashing them, reading a socket or pipe): the streaming
 * window of a profile runs from the first sample in one of them to the last, so module loading and the
 * instance manager's idle time before the backup fall outside it.
 */
const streamingMarkers = new Set(["update", "onStreamRead"])

/** The first and last sample index inside a streaming marker (the whole profile when there is none). */
const streamingWindow = (profile: CpuProfile, byId: Map<number, ProfileNode>): readonly [number, number] => {
  const marked = (i: number) => streamingMarkers.has(byId.get(profile.samples[i] ?? -1)?.callFrame.functionName ?? "")
  let first = 0
  while (first < profile.samples.length - 1 && !marked(first)) first++
  let last = profile.samples.length - 1
  while (last > first && !marked(last)) last--
  return last > first ? [first, last] : [0, profile.samples.length - 1]
}

/** Busy milliseconds, category shares and top functions of some self times. */
const shareOf = (self: Map<number, number>, byId: Map<number, ProfileNode>) => {
  const perCategory = new Map<string, number>()
  const perFunction = new Map<string, number>()
  for (const [id, ms] of self) {
    const frame = byId.get(id)?.callFrame
    if (frame === undefined) continue
    const category = categoryOf(frame)
    perCategory.set(category, (perCategory.get(category) ?? 0) + ms)
    if (category === "idle") continue
    const name = `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    perFunction.set(name, (perFunction.get(name) ?? 0) + ms)
  }
  const busy = [...perCategory].filter(([c]) => c !== "idle").reduce((sum, [, ms]) => sum + ms, 0)
  const share = (ms: number) => Math.round((ms / busy) * 1000) / 10
  const shares = Object.fromEntries(
    [...perCategory]
      .filter(([c]) => c !== "idle")
      .sort((a, b) => b[1] - a[1])
      .map(([c, ms]) => [c, share(ms)])
  )
  const top = [...perFunction]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)
    .map(([name, ms]) => [name, share(ms)] as const)
  return { busy, shares, top }
}

const print = (title: string, summary: ReturnType<typeof shareOf>): void => {
  process.stderr.write(`\n== ${title}: ${Math.round(summary.busy)} ms busy\n`)
  for (const [c, pct] of Object.entries(summary.shares)) process.stderr.write(`  ${String(pct).padStart(5)} %  ${c}\n`)
  process.stderr.write("  top functions (self time):\n")
  for (const [name, pct] of summary.top) process.stderr.write(`  ${String(pct).padStart(5)} %  ${name}\n`)
}

/**
 * Summary of one profile: the whole of it, and its streaming window alone (what a GiB more costs, without
 * start-up): busy milliseconds, category shares, top functions.
 */
const summarise = (file: string) => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const whole = shareOf(selfTimes(profile), byId)
  const [from, to] = streamingWindow(profile, byId)
  const streaming = shareOf(selfTimes(profile, from, to), byId)
  print(basename(file), whole)
  print(`${basename(file)}, streaming window`, streaming)
  return {
    busy_ms: Math.round(whole.busy),
    shares: whole.shares,
    streaming: { busy_ms: Math.round(streaming.busy), shares: streaming.shares }
  }
}

const runBench = (dir: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, "backup.ts")], {
      env: {
        ...process.env,
        BENCH_CPU_PROF: dir,
        BENCH_BYTES: process.env.BENCH_BYTES ?? "512MiB",
        BENCH_PHASES: process.env.BENCH_PHASES ?? "restore"
      },
      stdio: ["ignore", "inherit", "inherit"]
    })
    child.once("error", reject)
    child.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`bench/backup.ts exited ${code}`))))
  })

const given = process.argv[2]
const dir = given ?? mkdtempSync(join(tmpdir(), "cnm-cpu-profile-"))
if (given === undefined) await runBench(dir)
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".cpuprofile"))
  .sort()
const result: Record<string, unknown> = { dir }
for (const f of files) result[f.replace(/\.cpuprofile$/u, "")] = summarise(join(dir, f))
process.stdout.write(`${JSON.stringify(result)}\n`)
