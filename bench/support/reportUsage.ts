/**
 * Preloaded into a measured process (`--import`, see `usageEnv` in processCpu.ts): when the process exits it
 * writes its own `process.resourceUsage()` (user + system CPU of all its threads, peak RSS) to the file named
 * by `CNM_BENCH_USAGE_FILE`, so a benchmark gets exact per-process figures without polling /proc.
 */
import { writeFileSync } from "node:fs"

const file = process.env.CNM_BENCH_USAGE_FILE
if (file !== undefined && file !== "") {
  process.once("exit", () => {
    const usage = process.resourceUsage()
    writeFileSync(
      file,
      JSON.stringify({ userMicros: usage.userCPUTime, systemMicros: usage.systemCPUTime, maxRssKiB: usage.maxRSS })
    )
  })
}
