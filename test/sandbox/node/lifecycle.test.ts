/**
 * Node conformance: the Pod lifecycle as the kubelet runs it, seen through `kubectl`.
 * https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/
 * https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/
 * https://kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/ (termination messages)
 */
import { readdirSync, readFileSync } from "node:fs"
import { assert, describe, layer } from "@effect/vitest"
import { Clock, Effect, Fiber, Stream } from "effect"
import { FakeCluster } from "../../../src/sandbox/FakeCluster.ts"
import {
  apply,
  condition,
  containerStatus,
  eventually,
  getJson,
  type Json,
  kubectl,
  nodeTestSandbox,
  operatorImage,
  podWhen,
  removePod,
  shellPod
} from "./support.ts"

describe("node: Pod lifecycle", () => {
  layer(nodeTestSandbox(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("binds the Pod, gives it a 127.x Pod IP, runs it to Succeeded with the kubelet's conditions", () =>
      Effect.gen(function* () {
        yield* apply(shellPod("lifecycle-ok", "echo done"))
        const wait = yield* kubectl([
          "wait",
          "--for=jsonpath={.status.phase}=Succeeded",
          "pod/lifecycle-ok",
          "--timeout=30s"
        ])
        assert.strictEqual(wait.code, 0, wait.stderr)
        const pod = yield* getJson("pod", "lifecycle-ok")
        assert.strictEqual(pod.spec.nodeName, "sandbox")
        assert.match(pod.status.podIP, /^127\.\d+\.\d+\.\d+$/)
        assert.notStrictEqual(pod.status.podIP, "127.0.0.1")
        assert.deepStrictEqual(pod.status.podIPs, [{ ip: pod.status.podIP }])
        assert.strictEqual(pod.status.hostIP, "127.0.0.1")
        assert.strictEqual(condition(pod, "PodScheduled").status, "True")
        assert.strictEqual(condition(pod, "Initialized").status, "True")
        assert.strictEqual(condition(pod, "Ready").reason, "PodCompleted")
        const terminated = containerStatus(pod).state.terminated
        assert.strictEqual(terminated.exitCode, 0)
        assert.strictEqual(terminated.reason, "Completed")
        const table = yield* kubectl(["get", "pod", "lifecycle-ok"])
        assert.match(table.stdout, /lifecycle-ok\s+0\/1\s+Completed\s+0/)
        yield* removePod("lifecycle-ok")
      })
    )

    it.effect("a container exiting non-zero with restartPolicy Never fails the Pod (reason Error, exit code)", () =>
      Effect.gen(function* () {
        yield* apply(shellPod("lifecycle-fail", "exit 3"))
        const pod = yield* podWhen("lifecycle-fail", "Failed", (p) => p.status.phase === "Failed")
        const terminated = containerStatus(pod).state.terminated
        assert.strictEqual(terminated.exitCode, 3)
        assert.strictEqual(terminated.reason, "Error")
        yield* removePod("lifecycle-fail")
      })
    )

    it.effect("init containers run in order before the containers; their output is visible to them", () =>
      Effect.gen(function* () {
        yield* apply({
          ...shellPod("lifecycle-init", "cat /work/order"),
          spec: {
            restartPolicy: "Never",
            volumes: [{ name: "work", emptyDir: {} }],
            initContainers: [
              {
                name: "first",
                image: operatorImage,
                command: ["sh", "-c", "echo first >> /work/order"],
                volumeMounts: [{ name: "work", mountPath: "/work" }]
              },
              {
                name: "second",
                image: operatorImage,
                command: ["sh", "-c", "echo second >> /work/order"],
                volumeMounts: [{ name: "work", mountPath: "/work" }]
              }
            ],
            containers: [
              {
                name: "main",
                image: operatorImage,
                command: ["sh", "-c", "cat /work/order"],
                volumeMounts: [{ name: "work", mountPath: "/work" }]
              }
            ]
          }
        })
        const pod = yield* podWhen("lifecycle-init", "Succeeded", (p) => p.status.phase === "Succeeded")
        assert.deepStrictEqual(
          pod.status.initContainerStatuses.map(
            (s: { state: { terminated: { reason: string } } }) => s.state.terminated.reason
          ),
          ["Completed", "Completed"]
        )
        const logs = yield* kubectl(["logs", "lifecycle-init"])
        assert.strictEqual(logs.stdout, "first\nsecond\n")
        yield* removePod("lifecycle-init")
      })
    )

    it.effect("a failing init container with restartPolicy Never fails the Pod and never starts the containers", () =>
      Effect.gen(function* () {
        yield* apply({
          ...shellPod("lifecycle-init-fail", "echo never"),
          spec: {
            restartPolicy: "Never",
            initContainers: [{ name: "setup", image: operatorImage, command: ["sh", "-c", "exit 7"] }],
            containers: [{ name: "main", image: operatorImage, command: ["sh", "-c", "echo never"] }]
          }
        })
        const pod = yield* podWhen("lifecycle-init-fail", "Failed", (p) => p.status.phase === "Failed")
        assert.strictEqual(pod.status.initContainerStatuses[0].state.terminated.exitCode, 7)
        assert.strictEqual(containerStatus(pod).state.waiting.reason, "PodInitializing")
        assert.strictEqual(condition(pod, "Initialized").reason, "ContainersNotInitialized")
        const table = yield* kubectl(["get", "pod", "lifecycle-init-fail"])
        assert.match(table.stdout, /Init:Error/)
        yield* removePod("lifecycle-init-fail")
      })
    )

    it.effect(
      "crash loop: restartPolicy Always restarts with a growing, capped back-off (CrashLoopBackOff, lastState)",
      () =>
        Effect.gen(function* () {
          yield* apply(shellPod("lifecycle-crash", "echo crashing; exit 2", { spec: { restartPolicy: "Always" } }))
          const backingOff = yield* podWhen(
            "lifecycle-crash",
            "CrashLoopBackOff",
            (p) => containerStatus(p)?.state?.waiting?.reason === "CrashLoopBackOff"
          )
          const status = containerStatus(backingOff)
          assert.match(
            status.state.waiting.message,
            /^back-off [\d.]+s restarting failed container=main pod=lifecycle-crash_default\(/
          )
          assert.strictEqual(status.lastState.terminated.exitCode, 2)
          assert.strictEqual(status.lastState.terminated.reason, "Error")
          assert.strictEqual(backingOff.status.phase, "Running")
          const restarts = yield* podWhen(
            "lifecycle-crash",
            "4 restarts",
            (p) => containerStatus(p).restartCount >= 4,
            "30 seconds"
          )
          assert.isAtLeast(containerStatus(restarts).restartCount, 4)
          const events = yield* kubectl([
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=lifecycle-crash,reason=BackOff",
            "-o",
            "json"
          ])
          assert.isAbove(JSON.parse(events.stdout).items.length, 0)
          const previous = yield* kubectl(["logs", "lifecycle-crash", "--previous"])
          assert.strictEqual(previous.stdout, "crashing\n")
          yield* removePod("lifecycle-crash")
        })
    )

    it.effect("OnFailure restarts a failed container and leaves a succeeded one terminated", () =>
      Effect.gen(function* () {
        // fails on its first run (an emptyDir remembers the attempt), succeeds on the second
        yield* apply({
          ...shellPod("lifecycle-onfailure", ""),
          spec: {
            restartPolicy: "OnFailure",
            volumes: [{ name: "state", emptyDir: {} }],
            containers: [
              {
                name: "main",
                image: operatorImage,
                command: ["sh", "-c", "if [ -e /state/ran ]; then exit 0; fi; touch /state/ran; exit 1"],
                volumeMounts: [{ name: "state", mountPath: "/state" }]
              }
            ]
          }
        })
        const pod = yield* podWhen("lifecycle-onfailure", "Succeeded", (p) => p.status.phase === "Succeeded")
        assert.strictEqual(containerStatus(pod).restartCount, 1)
        assert.strictEqual(containerStatus(pod).lastState.terminated.exitCode, 1)
        yield* removePod("lifecycle-onfailure")
      })
    )

    it.effect(
      "deletion while running: SIGTERM first, SIGKILL after terminationGracePeriodSeconds, then the Pod is gone",
      () =>
        Effect.gen(function* () {
          // PID 1 traps SIGTERM and ignores it, so only the SIGKILL after the grace period ends it; the trap's line
          // reaches the last status through FallbackToLogsOnError (the Pod and its logs are gone right after)
          yield* apply(
            shellPod("lifecycle-delete", "trap 'echo got SIGTERM' TERM; echo started; while true; do sleep 0.1; done", {
              spec: { terminationGracePeriodSeconds: 2 },
              container: { terminationMessagePolicy: "FallbackToLogsOnError" }
            })
          )
          yield* podWhen("lifecycle-delete", "Running", (p) => p.status.phase === "Running")
          yield* eventually(
            "started",
            Effect.map(kubectl(["logs", "lifecycle-delete"]), (run) =>
              run.stdout.includes("started") ? true : undefined
            )
          )
          const cluster = yield* FakeCluster
          const seen: Array<{ readonly type: string; readonly object: Json }> = []
          const watching = yield* Effect.forkChild(
            Stream.runForEach(
              cluster.watch(
                { group: "", version: "v1", plural: "pods", namespace: "default" },
                { fieldSelector: "metadata.name=lifecycle-delete" }
              ),
              (event) => Effect.sync(() => seen.push(event))
            )
          )
          const before = yield* Clock.currentTimeMillis
          const deleted = yield* kubectl(["delete", "pod", "lifecycle-delete"])
          assert.strictEqual(deleted.code, 0, deleted.stderr)
          const elapsed = (yield* Clock.currentTimeMillis) - before
          yield* eventually(
            "DELETED event",
            Effect.sync(() => (seen.some((event) => event.type === "DELETED") ? true : undefined))
          )
          yield* Fiber.interrupt(watching)
          const terminating = seen.find((event) => event.object.metadata.deletionTimestamp !== undefined)
          assert.strictEqual(terminating?.object.metadata.deletionGracePeriodSeconds, 2)
          const last = seen.filter((event) => event.type === "MODIFIED").at(-1)?.object
          const terminated = containerStatus(last).state.terminated
          assert.strictEqual(terminated.exitCode, 137)
          assert.strictEqual(terminated.message, "started\ngot SIGTERM")
          assert.isAtLeast(elapsed, 2_000)
        })
    )

    it.effect(
      "a container SIGKILLed from outside the node agent (the OOM killer, an operator) ends with exit code 137",
      () =>
        Effect.gen(function* () {
          // a marker argument finds PID 1 of this container among the host's processes
          const marker = "86397"
          yield* apply(shellPod("lifecycle-sigkill", `exec sleep ${marker}`))
          yield* podWhen("lifecycle-sigkill", "Running", (p) => p.status.phase === "Running")
          const pid = yield* eventually(
            "the container's sleep process",
            Effect.sync(() =>
              readdirSync("/proc")
                .filter((entry) => /^\d+$/u.test(entry))
                .find((entry) => {
                  try {
                    return readFileSync(`/proc/${entry}/cmdline`, "utf8") === `sleep\0${marker}\0`
                  } catch {
                    return false
                  }
                })
            )
          )
          process.kill(Number(pid), "SIGKILL")
          const pod = yield* podWhen("lifecycle-sigkill", "Failed", (p) => p.status.phase === "Failed")
          const terminated = containerStatus(pod).state.terminated
          assert.strictEqual(terminated.exitCode, 137)
          assert.strictEqual(terminated.reason, "Error")
          yield* removePod("lifecycle-sigkill")
        })
    )

    it.effect("a container that handles SIGTERM ends at once; its exit code is recorded before the Pod goes", () =>
      Effect.gen(function* () {
        yield* apply(
          shellPod("lifecycle-term", "trap 'exit 0' TERM; while true; do sleep 0.1; done", {
            spec: { terminationGracePeriodSeconds: 30 }
          })
        )
        yield* podWhen("lifecycle-term", "Running", (p) => p.status.phase === "Running")
        const before = yield* Clock.currentTimeMillis
        const run = yield* kubectl(["delete", "pod", "lifecycle-term"])
        assert.strictEqual(run.code, 0, run.stderr)
        assert.isBelow((yield* Clock.currentTimeMillis) - before, 10_000)
      })
    )

    it.effect(
      "termination message: the file at terminationMessagePath, else the log tail with FallbackToLogsOnError",
      () =>
        Effect.gen(function* () {
          yield* apply(
            shellPod("lifecycle-message", "printf 'result: ok' > /tmp/result; exit 0", {
              container: { terminationMessagePath: "/tmp/result" }
            }),
            shellPod("lifecycle-fallback", "echo last words; exit 4", {
              container: { terminationMessagePolicy: "FallbackToLogsOnError" }
            }),
            shellPod("lifecycle-nofallback", "echo not a message; exit 4")
          )
          const file = yield* podWhen("lifecycle-message", "Succeeded", (p) => p.status.phase === "Succeeded")
          assert.strictEqual(containerStatus(file).state.terminated.message, "result: ok")
          const fallback = yield* podWhen("lifecycle-fallback", "Failed", (p) => p.status.phase === "Failed")
          assert.strictEqual(containerStatus(fallback).state.terminated.message, "last words")
          const plain = yield* podWhen("lifecycle-nofallback", "Failed", (p) => p.status.phase === "Failed")
          assert.isUndefined(containerStatus(plain).state.terminated.message)
          for (const name of ["lifecycle-message", "lifecycle-fallback", "lifecycle-nofallback"]) yield* removePod(name)
        })
    )

    it.effect("preStop runs before SIGTERM (seen through a claim that outlives the Pod)", () =>
      Effect.gen(function* () {
        const claim = {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: { name: "prestop-data" },
          spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Mi" } } }
        }
        const mount = { volumeMounts: [{ name: "data", mountPath: "/data" }] }
        const volumes = [{ name: "data", persistentVolumeClaim: { claimName: "prestop-data" } }]
        yield* apply(
          claim,
          shellPod(
            "lifecycle-prestop",
            "trap 'cat /data/hook > /data/seen-at-term; exit 0' TERM; while true; do sleep 0.1; done",
            {
              container: {
                ...mount,
                lifecycle: { preStop: { exec: { command: ["sh", "-c", "echo prestop ran > /data/hook"] } } }
              },
              spec: { terminationGracePeriodSeconds: 10, volumes }
            }
          )
        )
        yield* podWhen("lifecycle-prestop", "Running", (p) => p.status.phase === "Running")
        const deleted = yield* kubectl(["delete", "pod", "lifecycle-prestop"])
        assert.strictEqual(deleted.code, 0, deleted.stderr)
        yield* apply(
          shellPod("lifecycle-prestop-reader", "cat /data/seen-at-term", { container: mount, spec: { volumes } })
        )
        yield* podWhen("lifecycle-prestop-reader", "Succeeded", (p) => p.status.phase === "Succeeded")
        const logs = yield* kubectl(["logs", "lifecycle-prestop-reader"])
        assert.strictEqual(logs.stdout, "prestop ran\n")
        yield* removePod("lifecycle-prestop-reader")
      })
    )

    it.effect("command and args override the image's entrypoint; $(VAR) references expand", () =>
      Effect.gen(function* () {
        yield* apply({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "lifecycle-args" },
          spec: {
            restartPolicy: "Never",
            containers: [
              { name: "help", image: operatorImage, args: ["--help"] },
              {
                name: "echo",
                image: operatorImage,
                command: ["echo"],
                args: ["$(GREETING) world", "$$(GREETING)"],
                env: [{ name: "GREETING", value: "hello" }],
                workingDir: "/tmp"
              }
            ]
          }
        })
        yield* podWhen("lifecycle-args", "Succeeded", (p) => p.status.phase === "Succeeded")
        const help = yield* kubectl(["logs", "lifecycle-args", "-c", "help"])
        assert.match(help.stdout, /cloudnative-mysql <subcommand>/)
        const echo = yield* kubectl(["logs", "lifecycle-args", "-c", "echo"])
        assert.strictEqual(echo.stdout, "hello world $(GREETING)\n")
        const noContainer = yield* kubectl(["logs", "lifecycle-args", "--all-containers=false", "-c", "nope"])
        assert.match(noContainer.stderr, /container nope is not valid for pod lifecycle-args/)
        yield* removePod("lifecycle-args")
      })
    )
  })
})
