/**
 * What the controller conformance tests share: the fake API server with the sandbox's controllers running
 * against its HTTP face (client-node), a `kubectl` bound to it, polling, and the test playing the kubelet
 * (Pod status written through the status subresource, as the node agent would).
 */
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Duration, Effect, Layer, type Scope } from "effect"
import { KubeApi } from "../../../src/kube/KubeApi.ts"
import { Kinds, type Pod } from "../../../src/sandbox/controllers/kinds.ts"
import { SandboxControllers } from "../../../src/sandbox/controllers/SandboxControllers.ts"
import { FakeApiServer } from "../../../src/sandbox/FakeApiServer.ts"
import { layerLiveOnFakeServer } from "../../../src/sandbox/KubeApiFake.ts"

/** A fresh state directory for one test, removed afterwards. */
export const stateDirectory = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "sandbox-controllers-"))),
  (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
)

/** The fake API server, a client-node `KubeApi` on its HTTP face, and the controllers running on it. */
export const withControllers = (directory: string) =>
  SandboxControllers.layer({ stateDirectory: directory, jobPodBackoff: "100 millis" }).pipe(
    Layer.provideMerge(layerLiveOnFakeServer)
  )

/** Runs a test body with a state directory and the controllers. */
export const controllerTest = <A, E>(
  body: (directory: string) => Effect.Effect<A, E, KubeApi | FakeApiServer | SandboxControllers | Scope.Scope>
) =>
  Effect.gen(function* () {
    const directory = yield* stateDirectory
    return yield* Effect.gen(function* () {
      yield* (yield* SandboxControllers).synced
      return yield* body(directory)
    }).pipe(Effect.provide(withControllers(directory)))
  })

/** Polls `check` every 50 ms until it returns a value (not undefined); fails after `timeout`. */
export const eventually = <A, E, R>(
  what: string,
  check: Effect.Effect<A | undefined, E, R>,
  timeout: Duration.Input = "10 seconds"
): Effect.Effect<A, E | Error, R> =>
  Effect.gen(function* () {
    for (;;) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep("50 millis")
    }
  }).pipe(
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(new Error(`timed out waiting: ${what}`)) })
  )

/** The result of one `kubectl` run. */
export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the real `kubectl` against the fake API server. */
export const kubectl = (...args: Array<string>) =>
  Effect.gen(function* () {
    const server = yield* FakeApiServer
    const directory = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "sandbox-kubectl-"))),
      (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
    )
    const kubeconfig = yield* server.writeKubeconfig(join(directory, "config"))
    return yield* Effect.callback<Run>((resume) => {
      execFile(
        "kubectl",
        args,
        { env: { ...process.env, KUBECONFIG: kubeconfig, HOME: directory }, timeout: 60_000 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
          resume(Effect.succeed({ code, stdout, stderr }))
        }
      )
    })
  }).pipe(Effect.scoped)

/** Pods of a namespace, optionally narrowed by label selector. */
export const podsIn = (namespace: string, labelSelector?: string) =>
  Effect.flatMap(KubeApi, (api) => Effect.map(api.list(Kinds.pods, { namespace, labelSelector }), (list) => list.items))

/** The test as kubelet: the Pod runs, ready or not. */
export const podRunning = (pod: Pod, ready = true) =>
  Effect.flatMap(KubeApi, (api) =>
    api.patchStatus(
      Kinds.pods,
      { namespace: pod.metadata.namespace, name: pod.metadata.name ?? "" },
      {
        status: {
          phase: "Running",
          podIP: "127.0.0.10",
          conditions: [
            { type: "Ready", status: ready ? "True" : "False", lastTransitionTime: "2026-01-01T00:00:00Z" },
            { type: "ContainersReady", status: ready ? "True" : "False" }
          ],
          containerStatuses: (pod.spec?.containers ?? []).map((container) => ({
            name: container.name,
            ready,
            restartCount: 0,
            state: { running: { startedAt: "2026-01-01T00:00:00Z" } }
          }))
        }
      }
    )
  )

/** The test as kubelet: every container exited with `exitCode`; the Pod is Succeeded (0) or Failed. */
export const podExited = (pod: Pod, exitCode: number) =>
  Effect.flatMap(KubeApi, (api) =>
    api.patchStatus(
      Kinds.pods,
      { namespace: pod.metadata.namespace, name: pod.metadata.name ?? "" },
      {
        status: {
          phase: exitCode === 0 ? "Succeeded" : "Failed",
          conditions: [{ type: "Ready", status: "False", reason: "PodCompleted" }],
          containerStatuses: (pod.spec?.containers ?? []).map((container) => ({
            name: container.name,
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode, reason: exitCode === 0 ? "Completed" : "Error" } }
          }))
        }
      }
    )
  )

/** The test as a kubelet that starts every new Pod of `namespace` at once and reports it ready. */
export const kubeletReadiesPods = (namespace: string) =>
  Effect.forkScoped(
    Effect.forever(
      Effect.gen(function* () {
        for (const pod of yield* podsIn(namespace)) {
          if (pod.status?.phase === "Pending" && pod.metadata.deletionTimestamp === undefined) {
            yield* Effect.ignore(podRunning(pod))
          }
        }
        yield* Effect.sleep("50 millis")
      })
    )
  )
