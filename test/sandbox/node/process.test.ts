/**
 * `npm run sandbox` as a child process, as another issue's end-to-end tests or a developer start it: the ready
 * lines, two sandboxes side by side, SIGTERM stopping everything and removing the state directory, and a node
 * agent killed outright (SIGKILL) leaving no Pod process behind.
 * https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const root = join(import.meta.dirname, "..", "..", "..")

interface Started {
  readonly child: ChildProcess
  readonly env: Record<string, string>
}

/** Starts `src/sandbox/main.ts` (what `npm run sandbox` runs) and waits for its ready lines. */
const startSandbox = (...args: Array<string>) =>
  Effect.acquireRelease(
    Effect.callback<Started>((resume) => {
      const child = spawn(process.execPath, [join(root, "src", "sandbox", "main.ts"), "--object-store=none", ...args], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      let err = ""
      child.stderr?.on("data", (chunk: Buffer) => {
        err += chunk.toString()
      })
      child.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString()
        if (out.includes("SANDBOX_POD_NETWORK=") && out.endsWith("\n")) {
          const env = Object.fromEntries(
            out
              .trim()
              .split("\n")
              .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)])
          )
          resume(Effect.succeed({ child, env }))
        }
      })
      child.once("exit", (code) => resume(Effect.die(new Error(`sandbox exited ${code}: ${err}`))))
    }),
    ({ child }) =>
      Effect.callback<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
      })
  )

const kubectl = (kubeconfig: string, ...args: Array<string>) =>
  Effect.callback<{ code: number; stdout: string; stderr: string }>((resume) => {
    execFile("kubectl", args, { env: { ...process.env, KUBECONFIG: kubeconfig } }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: error === null ? 0 : 1, stdout, stderr }))
    )
  })

/** PIDs whose command line contains `marker`. */
const processesWith = (marker: string): Array<number> =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/u.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").includes(marker)
      } catch {
        return false
      }
    })
    .map(Number)

const pod = (name: string, script: string) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        { name: "main", image: "ghcr.io/cloudnative-mysql/cloudnative-mysql:0.1.0", command: ["sh", "-c", script] }
      ]
    }
  })

const apply = (kubeconfig: string, manifest: string) =>
  Effect.callback<number>((resume) => {
    const child = execFile(
      "kubectl",
      ["apply", "-f", "-"],
      { env: { ...process.env, KUBECONFIG: kubeconfig } },
      (error) => resume(Effect.succeed(error === null ? 0 : 1))
    )
    child.stdin?.end(manifest)
  })

describe("npm run sandbox", () => {
  it.live(
    "prints KUBECONFIG when ready; two sandboxes side by side; SIGTERM stops the Pods and removes the state dir",
    () =>
      Effect.gen(function* () {
        const first = yield* startSandbox()
        const second = yield* startSandbox()
        assert.notStrictEqual(first.env.SANDBOX_POD_NETWORK, second.env.SANDBOX_POD_NETWORK)
        assert.notStrictEqual(first.env.KUBECONFIG, second.env.KUBECONFIG)
        const kubeconfig = first.env.KUBECONFIG ?? ""
        const nodes = yield* kubectl(kubeconfig, "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}")
        assert.strictEqual(nodes.stdout, "sandbox")
        const crds = yield* kubectl(kubeconfig, "get", "clusters.mysql.cloudnative-mysql.io")
        assert.strictEqual(crds.code, 0, crds.stderr)
        assert.strictEqual(yield* apply(kubeconfig, pod("sleeper", "exec sleep 4711")), 0)
        for (;;) {
          const phase = yield* kubectl(kubeconfig, "get", "pod", "sleeper", "-o", "jsonpath={.status.phase}")
          if (phase.stdout === "Running") break
          yield* Effect.sleep("100 millis")
        }
        assert.isAbove(processesWith("sleep 4711").length, 0)
        const stateDir = first.env.SANDBOX_STATE_DIR ?? ""
        first.child.kill("SIGTERM")
        yield* Effect.callback<void>((resume) => {
          first.child.once("exit", () => resume(Effect.void))
        })
        assert.deepStrictEqual(processesWith("sleep 4711"), [])
        assert.isFalse(existsSync(stateDir))
      }),
    180_000
  )

  it.live(
    "a node agent killed with SIGKILL leaves no container process behind (parent-death signal, PID namespaces)",
    () =>
      Effect.gen(function* () {
        const sandbox = yield* startSandbox()
        const kubeconfig = sandbox.env.KUBECONFIG ?? ""
        // PID 1 with a child of its own: both must go
        assert.strictEqual(yield* apply(kubeconfig, pod("orphan-test", "sleep 4712 & exec sleep 4713")), 0)
        for (;;) {
          if (processesWith("sleep 4712").length > 0 && processesWith("sleep 4713").length > 0) break
          yield* Effect.sleep("100 millis")
        }
        sandbox.child.kill("SIGKILL")
        yield* Effect.callback<void>((resume) => {
          sandbox.child.once("exit", () => resume(Effect.void))
        })
        for (let attempt = 0; attempt < 50; attempt++) {
          if (processesWith("sleep 471").length === 0) break
          yield* Effect.sleep("100 millis")
        }
        assert.deepStrictEqual(processesWith("sleep 471"), [])
        // a killed sandbox cannot remove its state directory: the test does
        rmSync(sandbox.env.SANDBOX_STATE_DIR ?? "", { recursive: true, force: true })
      }),
    180_000
  )
})
