/**
 * Per-process CPU and memory figures for the benchmarks, and the machine's floor for the same bytes.
 *
 * - `usageEnv` + `readUsage`: a child process started with this environment reports its own
 *   `resourceUsage()` at exit (reportUsage.ts): user + system CPU seconds of all its threads and peak RSS.
 * - `procCpuSeconds`: user + system CPU of a running process from `/proc/<pid>/stat` (children excluded),
 *   for long-lived processes measured over an interval (the instance manager).
 * - `measureFloor`: what one SHA-256 pass and one AES-256-GCM pass (the TLS record cipher) cost per GiB on this
 *   machine, from `openssl speed` (CPU time, 1 MiB blocks) and from Node's own `createHash`.
 */
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { promisify } from "node:util"
import { dataMoverNodeFlags } from "../../src/cli/nodeFlags.ts"

const run = promisify(execFile)
const GiB = 1024 ** 3

/**
 * The Node flags of a benchmark's own reader process: `BENCH_NODE_FLAGS` (space-separated; empty for V8's
 * defaults), by default those the data movers run with (src/cli/nodeFlags.ts).
 */
export const benchNodeFlags = (): ReadonlyArray<string> =>
  process.env.BENCH_NODE_FLAGS === undefined
    ? dataMoverNodeFlags
    : process.env.BENCH_NODE_FLAGS.split(" ").filter((flag) => flag !== "")

/** What a process reported about itself at exit. */
export interface ProcessUsage {
  readonly cpuSeconds: number
  readonly peakRssMiB: number
}

/** Environment that makes a Node child write its resource usage to `file` when it exits. */
export const usageEnv = (file: string, extraNodeOptions: ReadonlyArray<string> = []): Record<string, string> => ({
  NODE_OPTIONS: [...extraNodeOptions, `--import=${join(import.meta.dirname, "reportUsage.ts")}`].join(" "),
  CNM_BENCH_USAGE_FILE: file
})

/** The usage a child wrote with `usageEnv`. */
export const readUsage = async (file: string): Promise<ProcessUsage> => {
  const u = JSON.parse(await readFile(file, "utf8")) as { userMicros: number; systemMicros: number; maxRssKiB: number }
  return { cpuSeconds: (u.userMicros + u.systemMicros) / 1e6, peakRssMiB: u.maxRssKiB / 1024 }
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on Linux). */
const clockTicks = 100

/** User + system CPU seconds a running process has used so far (its own threads, not its children). */
export const procCpuSeconds = async (pid: number): Promise<number> => {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8")
  // the command name (field 2) may contain spaces: fields are counted after its closing parenthesis
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / clockTicks
}

/** CPU seconds per GiB for `cpuSeconds` spent on `bytes`, two decimals. */
export const perGiB = (cpuSeconds: number, bytes: number): number =>
  Math.round((cpuSeconds / (bytes / GiB)) * 100) / 100

/** CPU seconds per GiB of one `openssl speed -evp <algorithm>` run on 1 MiB blocks. */
const opensslSecondsPerGiB = async (algorithm: string): Promise<number> => {
  const { stdout } = await run("openssl", ["speed", "-evp", algorithm, "-bytes", String(1024 * 1024), "-seconds", "2"])
  // the last line: "<name>  <n>k" (thousands of bytes per second of user CPU time)
  const last = stdout.trim().split("\n").at(-1) ?? ""
  const rate = Number(/([\d.]+)k\s*$/u.exec(last)?.[1] ?? Number.NaN) * 1000
  if (!Number.isFinite(rate) || rate <= 0) throw new Error(`cannot parse openssl speed output: ${last}`)
  return GiB / rate
}

/** CPU seconds per GiB of Node's `createHash("sha256")` with 1 MiB updates. */
const nodeSha256SecondsPerGiB = (): number => {
  const block = Buffer.alloc(1024 * 1024, 7)
  const hash = createHash("sha256")
  const before = process.cpuUsage()
  for (let i = 0; i < 1024; i++) hash.update(block)
  hash.digest()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1e6
}

/** The machine's floor for moving bytes through one SHA-256 and one TLS cipher pass. */
export interface Floor {
  readonly sha256: number
  readonly aes256gcm: number
  readonly nodeSha256: number
  /** One SHA-256 pass plus one AES-256-GCM pass (what receiving over TLS and hashing once must cost). */
  readonly total: number
}

/** Measures the floor now (a few seconds of CPU), so it is taken under the same load as the run it sits next to. */
export const measureFloor = async (): Promise<Floor> => {
  const sha256 = await opensslSecondsPerGiB("sha256")
  const aes256gcm = await opensslSecondsPerGiB("aes-256-gcm")
  const nodeSha256 = nodeSha256SecondsPerGiB()
  const round = (n: number) => Math.round(n * 100) / 100
  return {
    sha256: round(sha256),
    aes256gcm: round(aes256gcm),
    nodeSha256: round(nodeSha256),
    total: round(sha256 + aes256gcm)
  }
}
