/**
 * The production package as the operator image ships it (docs/operations.md "Build layout"): `npm run build`, then
 * the built output with `npm ci --omit=dev` in a directory outside the repository (so nothing can resolve the
 * repository's dev dependencies), started with Node 24. A runtime dependency recorded only in devDependencies, or an
 * import of test/sandbox code from shipped code, fails here instead of in a cluster.
 */
import { execFileSync, spawnSync } from "node:child_process"
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync
} from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, relative } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"

const root = join(import.meta.dirname, "..", "..")
const npm = process.platform === "win32" ? "npm.cmd" : "npm"
let packageDir = ""

const jsFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? jsFiles(join(dir, entry.name)) : entry.name.endsWith(".js") ? [join(dir, entry.name)] : []
  )

const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(packageDir, "bin", "cloudnative-mysql.js"), ...args], {
    cwd: packageDir,
    // no NODE_OPTIONS/NODE_PATH from the test runner: the package must stand on its own
    env: { PATH: process.env.PATH ?? "", HOME: packageDir, ...env },
    encoding: "utf8",
    timeout: 30_000
  })

beforeAll(() => {
  execFileSync(npm, ["run", "build"], { cwd: root, stdio: "pipe" })
  packageDir = mkdtempSync(join(tmpdir(), "cnm-package-"))
  cpSync(join(root, "build"), packageDir, { recursive: true })
  cpSync(join(root, "package.json"), join(packageDir, "package.json"))
  cpSync(join(root, "package-lock.json"), join(packageDir, "package-lock.json"))
  execFileSync(npm, ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"], {
    cwd: packageDir,
    stdio: "pipe"
  })
}, 300_000)

afterAll(() => {
  if (packageDir !== "") rmSync(packageDir, { recursive: true, force: true })
})

describe("the production package (npm run build + npm ci --omit=dev)", () => {
  it("runs under Node 24", () => {
    assert.isAtLeast(Number(process.versions.node.split(".")[0]), 24)
  })

  it("holds no dev dependency and no sandbox or demo code", () => {
    const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
      packages: Record<string, { readonly dev?: boolean }>
    }
    // dev-only = needed by nothing in dependencies (a devDependency that is also a transitive runtime one stays)
    const devOnly = Object.entries(lock.packages).filter(([path, entry]) => path !== "" && entry.dev === true)
    assert.isAbove(devOnly.length, 0)
    for (const [path] of devOnly) {
      assert.isFalse(existsSync(join(packageDir, path)), `dev-only package ${path} was installed`)
    }
    assert.isFalse(existsSync(join(packageDir, "src", "sandbox")), "shipped code imports src/sandbox")
    assert.isFalse(existsSync(join(packageDir, "src", "demo")), "shipped code imports src/demo")
    assert.isTrue(existsSync(join(packageDir, "bin", "cloudnative-mysql.js")))
  })

  it("cloudnative-mysql --help starts and prints every subcommand", () => {
    const help = run(["--help"])
    assert.strictEqual(help.status, 0, help.stderr)
    for (const sub of ["instance", "backup", "restore", "recovery-plan", "controller"]) assert.include(help.stdout, sub)
  })

  it("starts as `cloudnative-mysql` from PATH, as the images link it and the rendered Pods call it", () => {
    const bin = join(packageDir, "path-bin")
    mkdirSync(bin)
    chmodSync(join(packageDir, "bin", "cloudnative-mysql.js"), 0o755)
    symlinkSync(join(packageDir, "bin", "cloudnative-mysql.js"), join(bin, "cloudnative-mysql"))
    const help = spawnSync("cloudnative-mysql", ["backup", "--help"], {
      cwd: packageDir,
      // the image's PATH: the launcher's directory and node's, nothing of the repository
      env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, HOME: packageDir },
      encoding: "utf8",
      timeout: 30_000
    })
    assert.strictEqual(help.status, 0, help.stderr)
    assert.include(help.stdout, "backup")
  })

  it("every subcommand's --help starts from the package (the controller's included)", () => {
    for (const sub of ["instance", "backup", "restore", "recovery-plan", "controller"]) {
      const help = run([sub, "--help"])
      assert.strictEqual(help.status, 0, `${sub}: ${help.stderr}`)
      assert.include(help.stdout, sub)
    }
  })

  it("every shipped module loads with production dependencies only", () => {
    const modules = jsFiles(join(packageDir, "src")).map((file) => `./${relative(packageDir, file)}`)
    assert.isAbove(modules.length, 20)
    const script = `for (const m of ${JSON.stringify(modules)}) await import(m)`
    const loaded = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: packageDir,
      env: { PATH: process.env.PATH ?? "" },
      encoding: "utf8",
      timeout: 60_000
    })
    assert.strictEqual(loaded.status, 0, loaded.stderr)
  })

  it("backup, restore and recovery-plan load their whole program and fail on missing configuration, not on a missing module", () => {
    for (const sub of ["backup", "restore", "recovery-plan"]) {
      const termination = join(packageDir, `${sub}.termination`)
      const out = run([sub], { TERMINATION_MESSAGE_PATH: termination })
      assert.strictEqual(out.status, 1, `${sub}: ${out.stderr}`)
      const message = JSON.parse(readFileSync(termination, "utf8")) as { reason: string }
      assert.strictEqual(message.reason, "InvalidConfiguration", `${sub}: ${out.stdout}`)
    }
  })

  it("instance loads and refuses to start without its configuration", () => {
    const out = run(["instance"])
    assert.notStrictEqual(out.status, 0)
    assert.notInclude(`${out.stdout}${out.stderr}`, "ERR_MODULE_NOT_FOUND")
    assert.notInclude(`${out.stdout}${out.stderr}`, "Cannot find package")
  })
})
