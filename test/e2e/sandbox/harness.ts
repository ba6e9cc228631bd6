/**
 * The end-to-end suite on the sandbox: each test file runs one `OperatorSandbox` (src/sandbox/OperatorSandbox.ts
 * — the sandbox with RGW, the real controller as a child process, kubectl/SQL/wait helpers; its doc comment
 * lists everything it offers) through `e2eLayer`, and reuses one Cluster across its cases to keep the wall time
 * down. Typical use:
 *
 * ```ts
 * layer(e2eLayer())((it) => {
 *   it.effect("…", () => Effect.gen(function* () {
 *     const e2e = yield* OperatorSandbox
 *     yield* e2e.apply(clusterManifest("db", { instances: 3 }))
 *     const cluster = yield* e2e.waitForPhase("db", "healthy")
 *     const rows = yield* (yield* e2e.sql("db-1")).query("SELECT 1 AS one")
 *   }), { timeout: e2eTimeout })
 * })
 * ```
 */
import { layer } from "@effect/vitest"
import { OperatorSandbox, type OperatorSandboxOptions } from "../../../src/sandbox/OperatorSandbox.ts"

export {
  clusterManifest,
  type Json,
  OperatorSandbox,
  OperatorSandboxError,
  sandboxObjectStore
} from "../../../src/sandbox/OperatorSandbox.ts"

/** Per test case: a Cluster becoming healthy takes about a minute on the shared 2-core machine. */
export const e2eTimeout = 300_000

/**
 * `layer(...)` of @effect/vitest with the operator sandbox: live clock and services (the sandbox's processes run
 * in real time), four minutes to start RGW and the controller. `CNM_E2E_ECHO=1` echoes the controller's log;
 * `CNM_E2E_KEEP=1` keeps the sandbox's state directory (Pod logs, volumes, `operator/controller.log`) for a look
 * afterwards.
 */
export const e2eLayer = (options: OperatorSandboxOptions = {}) =>
  layer(
    OperatorSandbox.layer({
      echoControllerLog: process.env.CNM_E2E_ECHO === "1",
      ...options,
      sandbox: { ...(process.env.CNM_E2E_KEEP === "1" ? { keep: true } : {}), ...options.sandbox }
    }),
    {
      excludeTestServices: true,
      timeout: "240 seconds"
    }
  )
