/**
 * vitest globalSetup for the shared Ceph RGW (see `test/support/rgw.ts`): reserves one state
 * directory for the whole run and provides it as `inject("rgw")`; the first test that needs RGW starts it
 * there (so a run without RGW tests costs nothing), and the teardown here stops it by PID (stop.sh signals
 * only the PIDs start.sh recorded) and removes the directory.
 *
 * - `RGW_STATE_DIR=<dir of a running start.sh>` reuses that RGW (fast local iterations); it is left running.
 * - Binaries missing: with `CI=true` the run fails here with the apt-get command; otherwise each test that
 *   needs RGW fails with the same message.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import type { TestProject } from "vitest/node"
import { rgwInstallHint, rgwScripts } from "../../src/sandbox/rgw/rgw.ts"

const run = promisify(execFile)

const missingBinaries = async (): Promise<ReadonlyArray<string>> => {
  const missing: Array<string> = []
  for (const bin of [
    "ceph-mon",
    "ceph-osd",
    "radosgw",
    "radosgw-admin",
    "monmaptool",
    "ceph",
    "uuidgen",
    "openssl",
    "curl"
  ]) {
    await run("sh", ["-c", `command -v ${bin}`]).catch(() => missing.push(bin))
  }
  return missing
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const reuse = process.env.RGW_STATE_DIR
  if (reuse !== undefined && reuse !== "" && existsSync(join(reuse, "env"))) {
    project.provide("rgw", { available: true, stateDir: reuse })
    return undefined
  }
  const missing = await missingBinaries()
  if (missing.length > 0) {
    const reason = `Ceph RGW binaries missing (${missing.join(", ")}). Install them with: ${rgwInstallHint}`
    if (process.env.CI === "true") throw new Error(reason)
    project.provide("rgw", { available: false, reason })
    return undefined
  }
  const stateDir = mkdtempSync(join(tmpdir(), "cnmysql-rgw-"))
  project.provide("rgw", { available: true, stateDir })
  return async () => {
    if (existsSync(join(stateDir, "pids"))) {
      // keep the logs of a start that failed half-way
      const keep = existsSync(join(stateDir, "start-failed")) ? ["--keep"] : []
      await run(join(rgwScripts, "stop.sh"), [stateDir, ...keep], { timeout: 90_000 })
    } else {
      rmSync(stateDir, { recursive: true, force: true })
    }
  }
}
