/**
 * The end-to-end suite on the sandbox: each test file runs one `OperatorSandbox` (src/sandbox/OperatorSandbox.ts
 * — the sandbox with RGW, the real controller, kubectl/SQL/wait helpers; its doc comment lists everything it
 * offers) through `e2eLayer`, and reuses one Cluster across its cases to keep the wall time down. The controller
 * is a host child process unless the file asks for `e2eLayer({ operator: "pod" })`: then the operator is
 * installed with `kubectl apply -k deploy/default` and runs as the Pod of its Deployment with RBAC on, and the
 * file's last case is `nothingDenied` (zero 403s in the API server's log). Typical use:
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
import { readdirSync } from "node:fs"
import { assert, layer } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { ObjectStoreClient } from "../../../src/objectstore/ObjectStoreClient.ts"
import {
  type Json,
  OperatorSandbox,
  type OperatorSandboxOptions,
  type OperatorSandboxService
} from "../../../src/sandbox/OperatorSandbox.ts"
import { staticConnection } from "../../../src/sandbox/s3Endpoint.ts"

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
 * in real time), five minutes to start RGW and the controller. `CNM_E2E_ECHO=1` echoes the controller's log;
 * `CNM_E2E_KEEP=1` keeps the sandbox's state directory (Pod logs, volumes, `operator/controller.log`) for a look
 * afterwards (the operator Pod's log is under `pods/<uid>/logs/manager/`).
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
      // RGW, then (operator Pod) the install and the wait for its Lease
      timeout: "300 seconds"
    }
  )

/** The sandbox's bucket through the product's own client (tests list it, flip and restore bytes in it). */
export const bucketClient = (e2e: OperatorSandboxService) => {
  const store = e2e.sandbox.objectStore
  if (store === undefined) throw new Error("this sandbox runs no object store")
  return ObjectStoreClient.layer(staticConnection(store, store.bucket))
}

/** An object's bytes. */
export const readObject = (key: string) =>
  Effect.gen(function* () {
    const client = yield* ObjectStoreClient
    return new Uint8Array(Buffer.concat([...(yield* Stream.runCollect(client.getObject(key)))]))
  })

/** Writes an object's bytes. */
export const putObject = (key: string, bytes: Uint8Array) =>
  Effect.gen(function* () {
    const client = yield* ObjectStoreClient
    yield* client.putObject(key, bytes)
  })

/** The reasons of an object's Warning Events. */
export const warningReasons = (e2e: OperatorSandboxService, name: string) =>
  Effect.map(e2e.list("events"), (events) =>
    events
      .filter((e: Json) => e.involvedObject?.name === name && e.type === "Warning")
      .map((e: Json) => String(e.reason))
  )

/** The files a volume holds (recursively, directories excluded), from the PV's host path. */
export const volumeFiles = (e2e: OperatorSandboxService, claim: string) =>
  Effect.gen(function* () {
    const pvc = yield* e2e.get("pvc", claim)
    if (pvc?.spec?.volumeName === undefined) return undefined
    const pv = yield* e2e.get("pv", pvc.spec.volumeName)
    const root: string = pv.spec.hostPath.path
    return readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((entry) => !entry.isDirectory())
      .map((entry) => `${entry.parentPath}/${entry.name}`.slice(root.length))
  })

/**
 * The operator ran as its Pod (RBAC on) and the API server refused no request of anyone — the operator, the Job
 * workers with the identities it made, the test itself: the roles grant everything the scenarios needed.
 */
export const nothingDenied = Effect.gen(function* () {
  const e2e = yield* OperatorSandbox
  assert.strictEqual(e2e.controller.mode, "pod", "without the operator Pod the API server checks no permission")
  const denials = yield* e2e.denials
  assert.deepStrictEqual(
    denials.map((denial) => `${denial.user}: ${denial.message}`),
    []
  )
})
