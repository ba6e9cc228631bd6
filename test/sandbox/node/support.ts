/**
 * What the node conformance tests share: one sandbox per test file (fast back-off and retry so failure paths
 * show within seconds), the real `kubectl` on its kubeconfig, and readers of Pod status through client-node's
 * wire format (the fake API server's HTTP face).
 */
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Duration, Effect } from "effect"
import { Sandbox, type SandboxOptions } from "../../../src/sandbox/Sandbox.ts"

/** The sandbox the node tests run on: no object store, 0.5 s first back-off capped at 2 s, 250 ms retries. */
export const nodeTestSandbox = (options: SandboxOptions = {}) =>
  Sandbox.layer({
    objectStore: "none",
    jobPodBackoff: "200 millis",
    ...options,
    node: {
      backoffInitialMillis: 500,
      backoffCapMillis: 2_000,
      retryMillis: 250,
      shutdownGraceSeconds: 2,
      ...options.node
    }
  })

export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the real `kubectl` against the sandbox (stdin optional, e.g. for `apply -f -`). */
export const kubectl = (args: ReadonlyArray<string>, stdin?: string): Effect.Effect<Run, never, Sandbox> =>
  Effect.gen(function* () {
    const sandbox = yield* Sandbox
    const home = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "node-kubectl-"))),
      (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
    )
    return yield* Effect.callback<Run>((resume) => {
      const child = execFile(
        "kubectl",
        [...args],
        { env: { ...process.env, KUBECONFIG: sandbox.kubeconfig, HOME: home }, timeout: 90_000 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
          resume(Effect.succeed({ code, stdout, stderr }))
        }
      )
      if (stdin !== undefined) child.stdin?.end(stdin)
      else child.stdin?.end()
    })
  }).pipe(Effect.scoped)

/** `kubectl apply -f -` of JSON manifests; fails the test with kubectl's stderr when it fails. */
export const apply = (...objects: ReadonlyArray<unknown>) =>
  Effect.gen(function* () {
    const run = yield* kubectl(["apply", "-f", "-"], objects.map((object) => JSON.stringify(object)).join("\n"))
    if (run.code !== 0) return yield* Effect.die(new Error(`kubectl apply failed: ${run.stderr}`))
    return run
  })

/** Any JSON object (the tests read arbitrary status fields). */
// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary Pod JSON
export type Json = any

/** `kubectl get -o json` of one object. */
export const getJson = (kind: string, name: string, namespace = "default") =>
  Effect.gen(function* () {
    const run = yield* kubectl(["get", kind, name, "-n", namespace, "-o", "json"])
    if (run.code !== 0) return undefined
    return JSON.parse(run.stdout) as Json
  })

/** Polls `check` every 100 ms until it returns a value; dies after `timeout`. */
export const eventually = <A, R>(
  what: string,
  check: Effect.Effect<A | undefined, never, R>,
  timeout: Duration.Input = "45 seconds"
): Effect.Effect<A, never, R> =>
  Effect.gen(function* () {
    for (;;) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep("100 millis")
    }
  }).pipe(
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error(`timed out waiting: ${what}`)) })
  )

/** The Pod once `predicate` holds for it. */
export const podWhen = (name: string, what: string, predicate: (pod: Json) => boolean, timeout?: Duration.Input) =>
  eventually(
    `${name}: ${what}`,
    Effect.map(getJson("pod", name), (pod) => (pod !== undefined && predicate(pod) ? pod : undefined)),
    timeout
  )

/** The operator image (the node runs it as `bin/cloudnative-mysql.js`). */
export const operatorImage = "ghcr.io/cloudnative-mysql/cloudnative-mysql:0.1.0"

/** A Pod manifest running `script` with `sh -c` in the operator image. */
export const shellPod = (
  name: string,
  script: string,
  extra: { readonly spec?: Json; readonly container?: Json; readonly metadata?: Json } = {}
) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, ...extra.metadata },
  spec: {
    restartPolicy: "Never",
    terminationGracePeriodSeconds: 2,
    ...extra.spec,
    containers: [{ name: "main", image: operatorImage, command: ["sh", "-c", script], ...extra.container }]
  }
})

/** The condition `type` of a Pod JSON. */
export const condition = (pod: Json, type: string): Json =>
  (pod?.status?.conditions ?? []).find((item: Json) => item.type === type)

/** The status of container `name` (default: the first). */
export const containerStatus = (pod: Json, name?: string): Json =>
  (pod?.status?.containerStatuses ?? []).find((item: Json) => name === undefined || item.name === name)

/** Deletes a Pod now (grace 0) so the next test starts clean. */
export const removePod = (name: string) =>
  kubectl(["delete", "pod", name, "--grace-period=0", "--force", "--wait=false"])

export const writeTemp = (name: string, content: string): string => {
  const dir = mkdtempSync(join(tmpdir(), "node-test-"))
  const path = join(dir, name)
  writeFileSync(path, content)
  return path
}
