/**
 * Node conformance: probes, logs, and DNS names through the generated hosts file.
 * https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
 * https://kubernetes.io/docs/concepts/cluster-administration/logging/
 * https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import {
  apply,
  condition,
  containerStatus,
  eventually,
  kubectl,
  nodeTestSandbox,
  operatorImage,
  podWhen,
  removePod,
  shellPod
} from "./support.ts"

/** A container serving `text` over HTTP on its Pod IP, port 8080 (Node's http module). */
const httpServer = (text: string) => ({
  name: "web",
  image: operatorImage,
  command: [
    "node",
    "-e",
    `require("node:http").createServer((q, s) => s.end(${JSON.stringify(text)})).listen(8080, process.env.POD_IP)`
  ],
  env: [{ name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }],
  ports: [{ name: "http", containerPort: 8080 }]
})

const fetchScript = (urls: ReadonlyArray<string>) =>
  `for (const url of ${JSON.stringify(urls)}) { try { const r = await fetch(url); console.log(url, await r.text()) } catch (e) { console.log(url, "failed", e.cause?.code ?? e.message) } }`

describe("node: probes, logs, DNS", () => {
  layer(nodeTestSandbox(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("a failing readiness probe keeps the Pod Running but not Ready, with Unhealthy events", () =>
      Effect.gen(function* () {
        yield* apply(
          shellPod("probe-unready", "sleep 600", {
            spec: { restartPolicy: "Always" },
            container: {
              readinessProbe: { httpGet: { path: "/readyz", port: 8000 }, periodSeconds: 1, failureThreshold: 1 }
            }
          })
        )
        const pod = yield* eventually(
          "Unhealthy event",
          Effect.gen(function* () {
            const events = yield* kubectl([
              "get",
              "events",
              "--field-selector",
              "involvedObject.name=probe-unready,reason=Unhealthy",
              "-o",
              "jsonpath={.items[0].message}"
            ])
            return events.stdout === "" ? undefined : events.stdout
          })
        )
        assert.match(
          pod,
          /^Readiness probe failed: Get "http:\/\/127\.\d+\.\d+\.\d+:8000\/readyz": dial tcp 127\.\d+\.\d+\.\d+:8000: connect: connection refused$/
        )
        const status = yield* podWhen("probe-unready", "Running", (p) => p.status.phase === "Running")
        assert.strictEqual(condition(status, "Ready").status, "False")
        assert.strictEqual(condition(status, "ContainersReady").reason, "ContainersNotReady")
        assert.strictEqual(condition(status, "Ready").message, "containers with unready status: [main]")
        assert.isFalse(containerStatus(status).ready)
        const wait = yield* kubectl(["wait", "--for=condition=Ready", "pod/probe-unready", "--timeout=2s"])
        assert.notStrictEqual(wait.code, 0)
        yield* removePod("probe-unready")
      })
    )

    it.effect("readiness (exec in the container) turns Ready once it passes; kubectl wait sees it", () =>
      Effect.gen(function* () {
        yield* apply(
          shellPod("probe-ready", "sleep 1; touch /tmp/ready; sleep 600", {
            spec: { restartPolicy: "Always" },
            container: { readinessProbe: { exec: { command: ["test", "-e", "/tmp/ready"] }, periodSeconds: 1 } }
          })
        )
        const wait = yield* kubectl(["wait", "--for=condition=Ready", "pod/probe-ready", "--timeout=30s"])
        assert.strictEqual(wait.code, 0, wait.stderr)
        yield* removePod("probe-ready")
      })
    )

    it.effect("a failing liveness probe restarts the container (Killing event, restartCount)", () =>
      Effect.gen(function* () {
        yield* apply(
          shellPod("probe-liveness", "echo run; sleep 600", {
            spec: { restartPolicy: "Always", terminationGracePeriodSeconds: 1 },
            container: { livenessProbe: { tcpSocket: { port: 9 }, periodSeconds: 1, failureThreshold: 2 } }
          })
        )
        const pod = yield* podWhen(
          "probe-liveness",
          "restarted",
          (p) => containerStatus(p)?.restartCount >= 1,
          "30 seconds"
        )
        assert.strictEqual(containerStatus(pod).lastState.terminated.exitCode, 137)
        const events = yield* kubectl([
          "get",
          "events",
          "--field-selector",
          "involvedObject.name=probe-liveness,reason=Killing",
          "-o",
          "jsonpath={.items[0].message}"
        ])
        assert.strictEqual(events.stdout, "Container main failed liveness probe, will be restarted")
        yield* removePod("probe-liveness")
      })
    )

    it.effect(
      "a startup probe holds started and readiness until it passes; an httpGet readiness probe on a named port",
      () =>
        Effect.gen(function* () {
          yield* apply({
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "probe-startup" },
            spec: {
              containers: [
                {
                  ...httpServer("ok"),
                  startupProbe: { tcpSocket: { port: "http" }, periodSeconds: 1, failureThreshold: 30 },
                  readinessProbe: { httpGet: { path: "/", port: "http" }, periodSeconds: 1 }
                }
              ]
            }
          })
          const first = yield* podWhen(
            "probe-startup",
            "running",
            (p) => containerStatus(p)?.state?.running !== undefined
          )
          if (!containerStatus(first).ready) assert.isFalse(condition(first, "Ready").status === "True")
          const ready = yield* podWhen("probe-startup", "Ready", (p) => condition(p, "Ready")?.status === "True")
          assert.isTrue(containerStatus(ready).started)
          assert.isTrue(containerStatus(ready).ready)
          yield* removePod("probe-startup")
        })
    )

    it.effect("kubectl logs: tail, follow until the container ends", () =>
      Effect.gen(function* () {
        yield* apply(
          shellPod("logs-lines", "sleep 0.5; for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done; echo err >&2")
        )
        yield* podWhen("logs-lines", "running", (p) => containerStatus(p)?.state?.running !== undefined)
        // -f streams while the container runs and ends with it
        const follow = yield* kubectl(["logs", "-f", "logs-lines"])
        assert.strictEqual(follow.code, 0, follow.stderr)
        assert.strictEqual(follow.stdout, "line 1\nline 2\nline 3\nline 4\nline 5\nerr\n")
        yield* podWhen("logs-lines", "done", (p) => p.status.phase === "Succeeded")
        const tail = yield* kubectl(["logs", "logs-lines", "--tail=2"])
        assert.strictEqual(tail.stdout, "line 5\nerr\n")
        yield* removePod("logs-lines")
      })
    )

    it.effect("Pods reach each other by Service name and by Pod DNS name; a not-ready Pod is not an endpoint", () =>
      Effect.gen(function* () {
        const service = (name: string, extra: object) => ({
          apiVersion: "v1",
          kind: "Service",
          metadata: { name },
          spec: { selector: { app: "web" }, ports: [{ port: 8080, targetPort: 8080 }], ...extra }
        })
        yield* apply(
          service("web", {}),
          service("web-headless", { clusterIP: "None" }),
          {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "web-0", labels: { app: "web" } },
            spec: {
              hostname: "web-0",
              subdomain: "web-headless",
              containers: [
                { ...httpServer("hello from web-0"), readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } }
              ]
            }
          },
          {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "web-unready", labels: { app: "web" } },
            spec: {
              containers: [
                { ...httpServer("never"), readinessProbe: { exec: { command: ["false"] }, periodSeconds: 1 } }
              ]
            }
          }
        )
        const ready = yield* kubectl(["wait", "--for=condition=Ready", "pod/web-0", "--timeout=30s"])
        assert.strictEqual(ready.code, 0, ready.stderr)
        const urls = [
          "http://web:8080/",
          "http://web.default:8080/",
          "http://web.default.svc.cluster.local:8080/",
          "http://web-0.web-headless.default.svc.cluster.local:8080/",
          "http://web-0.web-headless:8080/"
        ]
        yield* apply(
          shellPod(
            "web-client",
            `node --input-type=module -e '${fetchScript(urls)}'; cat /etc/hosts | grep -c web-unready || true`
          )
        )
        yield* podWhen("web-client", "Succeeded", (p) => p.status.phase === "Succeeded")
        const logs = yield* kubectl(["logs", "web-client"])
        assert.strictEqual(logs.stdout, `${urls.map((url) => `${url} hello from web-0`).join("\n")}\n0\n`)
        for (const name of ["web-0", "web-unready", "web-client"]) yield* removePod(name)
      })
    )
  })
})
