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

/** Self time per node id. */
const selfTimes = (profile: CpuProfile): Map<number, number> => {
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000)
  })
  return self
}

/** Summary of one profile: busy milliseconds, category shares, top functions. */
const summarise = (file: string) => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = selfTimes(profile)
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
  const top = [...perFunction].sort((a, b) => b[1] - a[1]).slice(0, 20)
  process.stderr.write(`\n== ${basename(file)}: ${Math.round(busy)} ms busy\n`)
  for (const [c, pct] of Object.entries(shares)) process.stderr.write(`  ${String(pct).padStart(5)} %  ${c}\n`)
  process.stderr.write("  top functions (self time):\n")
  for (const [name, ms] of top) process.stderr.write(`  ${String(share(ms)).padStart(5)} %  ${name}\n`)
  return { busy_ms: Math.round(busy), shares }
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
