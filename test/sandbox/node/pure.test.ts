/**
 * The node agent's pure parts: the Pod phase and conditions (Pod lifecycle), the hosts file (DNS for Services
 * and Pods), `$(VAR)` expansion and the environment's failure messages (Define dependent environment variables),
 * resource quantities (downward API), the image table.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { parseQuantity, resourceValue } from "../../../src/sandbox/node/downward.ts"
import { containerEnvironment, expandReferences } from "../../../src/sandbox/node/env.ts"
import { type HostsPod, renderHosts } from "../../../src/sandbox/node/hosts.ts"
import { resolveImage } from "../../../src/sandbox/node/images.ts"
import { type ContainerRecord, type PodRecord, podPhase, podStatus } from "../../../src/sandbox/node/status.ts"

const record = (
  name: string,
  state: ContainerRecord["state"],
  extra: Partial<ContainerRecord> = {}
): ContainerRecord => ({
  name,
  image: "img",
  state,
  lastState: undefined,
  ready: false,
  started: false,
  restartCount: 0,
  containerID: undefined,
  ...extra
})
const done = (exitCode: number) => ({
  terminated: { exitCode, reason: exitCode === 0 ? "Completed" : "Error", startedAt: "t", finishedAt: "t" }
})
const pod = (extra: Partial<PodRecord>): PodRecord => ({
  restartPolicy: "Always",
  scheduled: { status: true },
  sandboxReady: true,
  podIP: "127.10.0.2",
  hostIP: "127.0.0.1",
  startTime: "t",
  initContainers: [],
  containers: [],
  failure: undefined,
  ...extra
})

describe("node: Pod phase (getPhase)", () => {
  it("Pending while unscheduled, initialising or waiting to start", () => {
    assert.strictEqual(podPhase(pod({ scheduled: { status: false } })), "Pending")
    assert.strictEqual(
      podPhase(
        pod({
          initContainers: [record("i", { running: { startedAt: "t" } })],
          containers: [record("c", { waiting: { reason: "PodInitializing" } })]
        })
      ),
      "Pending"
    )
    assert.strictEqual(podPhase(pod({ containers: [record("c", { waiting: { reason: "ErrImagePull" } })] })), "Pending")
  })
  it("Running while a container runs, or restarts under Always / after a failure under OnFailure", () => {
    assert.strictEqual(podPhase(pod({ containers: [record("c", { running: { startedAt: "t" } })] })), "Running")
    const crashing = record("c", { waiting: { reason: "CrashLoopBackOff" } }, { lastState: done(1) })
    assert.strictEqual(podPhase(pod({ containers: [crashing] })), "Running")
    assert.strictEqual(podPhase(pod({ restartPolicy: "OnFailure", containers: [record("c", done(1))] })), "Running")
  })
  it("Succeeded when all exited 0 under Never/OnFailure; Failed on a failure under Never or a failed init", () => {
    assert.strictEqual(
      podPhase(pod({ restartPolicy: "Never", containers: [record("a", done(0)), record("b", done(0))] })),
      "Succeeded"
    )
    assert.strictEqual(podPhase(pod({ restartPolicy: "OnFailure", containers: [record("a", done(0))] })), "Succeeded")
    assert.strictEqual(
      podPhase(pod({ restartPolicy: "Never", containers: [record("a", done(0)), record("b", done(2))] })),
      "Failed"
    )
    assert.strictEqual(
      podPhase(
        pod({
          restartPolicy: "Never",
          initContainers: [record("i", done(1))],
          containers: [record("c", { waiting: { reason: "PodInitializing" } })]
        })
      ),
      "Failed"
    )
    assert.strictEqual(podPhase(pod({ failure: { reason: "DeadlineExceeded", message: "m" } })), "Failed")
  })
  it("conditions name the unready containers and keep their transition time while unchanged", () => {
    const status = podStatus(
      pod({
        containers: [
          record("a", { running: { startedAt: "t" } }),
          record("b", { running: { startedAt: "t" } }, { ready: true })
        ]
      }),
      "T1",
      undefined
    )
    const ready = (status.conditions as Array<Record<string, unknown>>).find((c) => c.type === "Ready")
    assert.deepStrictEqual(ready, {
      type: "Ready",
      status: "False",
      reason: "ContainersNotReady",
      message: "containers with unready status: [a]",
      lastProbeTime: null,
      lastTransitionTime: "T1"
    })
    const later = podStatus(pod({ containers: [record("a", { running: { startedAt: "t" } })] }), "T2", status)
    const scheduled = (later.conditions as Array<Record<string, unknown>>).find((c) => c.type === "PodScheduled")
    assert.strictEqual(scheduled?.lastTransitionTime, "T1")
  })
})

describe("node: hosts file", () => {
  const web = (name: string, ready: boolean, ip: string): HostsPod => ({
    namespace: "db",
    name,
    labels: { app: "web" },
    ip,
    ready,
    hostname: name,
    subdomain: "web-headless",
    hostAliases: []
  })
  const client: HostsPod = {
    namespace: "other",
    name: "client",
    labels: {},
    ip: "127.10.0.9",
    ready: true,
    hostname: undefined,
    subdomain: undefined,
    hostAliases: [{ ip: "127.0.0.1", hostnames: ["api"] }]
  }
  const services = [
    { namespace: "db", name: "web", selector: { app: "web" }, headless: false, publishNotReadyAddresses: false },
    {
      namespace: "db",
      name: "web-headless",
      selector: { app: "web" },
      headless: true,
      publishNotReadyAddresses: false
    },
    { namespace: "db", name: "external", selector: undefined, headless: false, publishNotReadyAddresses: false }
  ]
  it("ready endpoints under the Service's qualified names, Pod FQDNs for the headless Service, no short names across namespaces", () => {
    const text = renderHosts(
      client,
      [web("web-0", true, "127.10.0.2"), web("web-1", false, "127.10.0.3"), client],
      services
    )
    assert.include(text, "127.10.0.9\tclient\n")
    assert.include(text, "127.0.0.1\tapi\n")
    assert.include(text, "127.10.0.2\tweb.db.svc.cluster.local\tweb.db.svc\tweb.db\n")
    assert.include(text, "127.10.0.2\tweb-0.web-headless.db.svc.cluster.local\tweb-0.web-headless.db\n")
    assert.notInclude(text, "127.10.0.3")
    assert.notInclude(text, "external")
  })
  it("short names in the Pod's own namespace; publishNotReadyAddresses includes unready Pods", () => {
    const self = web("web-0", true, "127.10.0.2")
    const text = renderHosts(self, [self, web("web-1", false, "127.10.0.3")], [
      { ...services[0], publishNotReadyAddresses: true }
    ] as never)
    assert.include(text, "127.10.0.2\tweb-0.web-headless.db.svc.cluster.local\tweb-0\n")
    assert.include(text, "127.10.0.3\tweb.db.svc.cluster.local\tweb.db.svc\tweb.db\tweb\n")
  })
})

describe("node: environment", () => {
  it("$(VAR) expands defined variables, keeps unknown ones, $$ escapes", () => {
    assert.strictEqual(expandReferences("$(A)-$(B)-$$(A)", { A: "x" }), "x-$(B)-$(A)")
  })
  const sources = {
    pod: {
      name: "p",
      namespace: "ns",
      uid: "u",
      labels: {},
      annotations: {},
      nodeName: "sandbox",
      serviceAccountName: "default",
      podIP: "127.10.0.2",
      hostIP: "127.0.0.1"
    },
    containers: [],
    node: { cpuCores: 2, memoryBytes: 2 ** 30, ephemeralStorageBytes: 2 ** 34 },
    secret: (name: string) => Effect.succeed(name === "s" ? { present: "1" } : undefined),
    configMap: () => Effect.succeed(undefined)
  }
  it.effect("a missing key and a missing object fail with the kubelet's messages; optional ones are skipped", () =>
    Effect.gen(function* () {
      const key = yield* Effect.flip(
        containerEnvironment(
          { name: "c", env: [{ name: "V", valueFrom: { secretKeyRef: { name: "s", key: "absent" } } }] },
          sources
        )
      )
      assert.strictEqual(key.message, "couldn't find key absent in Secret ns/s")
      const object = yield* Effect.flip(
        containerEnvironment(
          { name: "c", env: [{ name: "V", valueFrom: { configMapKeyRef: { name: "cm", key: "k" } } }] },
          sources
        )
      )
      assert.strictEqual(object.message, 'configmap "cm" not found')
      const optional = yield* containerEnvironment(
        {
          name: "c",
          env: [
            { name: "V", valueFrom: { secretKeyRef: { name: "s", key: "absent", optional: true } } },
            { name: "W", value: "$(V)" }
          ]
        },
        sources
      )
      assert.deepStrictEqual(optional, { W: "$(V)" })
    })
  )
  it("quantities and resourceFieldRef: divisor, ceiling, allocatable when no limit", () => {
    assert.strictEqual(parseQuantity("500m"), 0.5)
    assert.strictEqual(parseQuantity("64Mi"), 64 * 2 ** 20)
    assert.strictEqual(parseQuantity("1G"), 1e9)
    assert.isUndefined(parseQuantity("lots"))
    const node = sources.node
    assert.strictEqual(
      resourceValue({ name: "c", resources: { limits: { cpu: "250m" } } }, { resource: "limits.cpu" }, node),
      "1"
    )
    assert.strictEqual(
      resourceValue(
        { name: "c", resources: { limits: { cpu: "250m" } } },
        { resource: "limits.cpu", divisor: "1m" },
        node
      ),
      "250"
    )
    assert.strictEqual(resourceValue({ name: "c" }, { resource: "limits.memory", divisor: "1Mi" }, node), "1024")
    assert.isUndefined(resourceValue({ name: "c" }, { resource: "limits.gpu" }, node))
  })
})

describe("node: image table", () => {
  it("runs the operator and MariaDB instance images; anything else is an image that cannot be pulled", () => {
    assert.strictEqual(resolveImage("ghcr.io/cloudnative-mysql/cloudnative-mysql:0.1.0")._tag, "Runnable")
    const instance = resolveImage("ghcr.io/cloudnative-mysql/cloudnative-mysql-instance:mariadb-10.11")
    assert.deepStrictEqual(instance._tag === "Runnable" ? instance.config.cmd : [], ["instance"])
    const mysql = resolveImage("ghcr.io/cloudnative-mysql/cloudnative-mysql-instance:8.4")
    assert.match(mysql._tag === "Unavailable" ? mysql.message : "", /cannot run MySQL 8\.4/)
    const other = resolveImage("nginx:1.27")
    assert.match(other._tag === "Unavailable" ? other.message : "", /^Failed to pull image "nginx:1\.27": /)
  })
})
