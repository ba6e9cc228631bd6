/**
 * Endpoints and EndpointSlice controller conformance: the addresses a Service with a selector publishes,
 * as the node agent's /etc/hosts and `kubectl get endpoints` read them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { KubeApi } from "../../../src/kube/KubeApi.ts"
import { Kinds } from "../../../src/sandbox/controllers/kinds.ts"
import { controllerTest, eventually, kubectl } from "./support.ts"

const SERVICE = "https://kubernetes.io/docs/concepts/services-networking/service/"
const SLICES = "https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/"
const DNS = "https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/"

// biome-ignore lint/suspicious/noExplicitAny: assertions walk the written JSON
type Json = any

const pod = (name: string, extra: Record<string, unknown> = {}) => ({
  metadata: { namespace: "default", name, labels: { app: "db" } },
  spec: {
    ...extra,
    containers: [
      {
        name: "db",
        image: "ghcr.io/cloudnative-mysql/instance:mariadb-10.11",
        ports: [{ name: "mysql", containerPort: 3306 }]
      }
    ]
  }
})

const run = (name: string, ip: string, ready: boolean) =>
  Effect.flatMap(KubeApi, (api) =>
    api.patchStatus(
      Kinds.pods,
      { namespace: "default", name },
      {
        status: {
          phase: "Running",
          podIP: ip,
          podIPs: [{ ip }],
          conditions: [{ type: "Ready", status: ready ? "True" : "False" }]
        }
      }
    )
  )

const endpointsOf = (name: string) =>
  Effect.flatMap(KubeApi, (api) =>
    Effect.map(Effect.result(api.get(Kinds.endpoints, { namespace: "default", name })), (result) =>
      result._tag === "Success" ? (result.success as Json) : undefined
    )
  )

const slicesOf = (name: string) =>
  Effect.flatMap(KubeApi, (api) =>
    Effect.map(
      api.list(Kinds.endpointSlices, { namespace: "default", labelSelector: `kubernetes.io/service-name=${name}` }),
      (list) => list.items as ReadonlyArray<Json>
    )
  )

const service = (name: string, clusterIP?: string) => ({
  metadata: { namespace: "default", name },
  spec: {
    selector: { app: "db" },
    ...(clusterIP === undefined ? {} : { clusterIP }),
    ports: [
      { name: "mysql", port: 3306, targetPort: "mysql" },
      { name: "probe", port: 8000, targetPort: 8001 }
    ]
  }
})

describe("Endpoints and EndpointSlice controllers", () => {
  it.live(`${SERVICE}#endpoints: ready Pods are addresses, others notReadyAddresses; named targetPorts resolve`, () =>
    controllerTest(() =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        yield* api.create(Kinds.pods, pod("db-1"))
        yield* api.create(Kinds.pods, pod("db-2"))
        yield* api.create(Kinds.pods, {
          ...pod("other"),
          metadata: { namespace: "default", name: "other", labels: { app: "web" } }
        })
        yield* run("db-1", "127.0.1.1", true)
        yield* run("db-2", "127.0.1.2", false)
        yield* run("other", "127.0.1.3", true)
        yield* api.create(Kinds.services, service("db-rw"))
        const endpoints = yield* eventually(
          "Endpoints with both Pods",
          Effect.map(endpointsOf("db-rw"), (value) =>
            value?.subsets?.[0]?.addresses?.length === 1 && value.subsets[0].notReadyAddresses?.length === 1
              ? value
              : undefined
          )
        )
        const [subset] = endpoints.subsets
        assert.deepStrictEqual(subset.addresses[0].ip, "127.0.1.1")
        assert.deepInclude(subset.addresses[0].targetRef, { kind: "Pod", name: "db-1", namespace: "default" })
        assert.deepStrictEqual(subset.notReadyAddresses[0].ip, "127.0.1.2")
        assert.deepStrictEqual(
          [...subset.ports].sort((a: Json, b: Json) => a.port - b.port),
          [
            { name: "mysql", port: 3306, protocol: "TCP" },
            { name: "probe", port: 8001, protocol: "TCP" }
          ]
        )
        const listed = yield* kubectl("get", "endpoints", "db-rw", "-o", "jsonpath={.subsets[0].addresses[*].ip}")
        assert.strictEqual(listed.stdout, "127.0.1.1")

        yield* run("db-2", "127.0.1.2", true)
        yield* eventually(
          "db-2 ready",
          Effect.map(endpointsOf("db-rw"), (value) => (value?.subsets?.[0]?.addresses?.length === 2 ? true : undefined))
        )
        yield* api.delete(Kinds.pods, { namespace: "default", name: "db-1" })
        const after = yield* eventually(
          "db-1 gone",
          Effect.map(endpointsOf("db-rw"), (value) =>
            value?.subsets?.[0]?.addresses?.length === 1 && value.subsets[0].addresses[0].ip === "127.0.1.2"
              ? value
              : undefined
          )
        )
        assert.isUndefined(after.subsets[0].notReadyAddresses)
      })
    )
  )

  it.live(`${SLICES}: one EndpointSlice per Service, owned by it, with ready/serving/terminating conditions`, () =>
    controllerTest(() =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const created = yield* api.create(Kinds.services, service("db-r"))
        const empty = yield* eventually(
          "the placeholder slice",
          Effect.map(slicesOf("db-r"), (slices) => (slices.length === 1 ? slices[0] : undefined))
        )
        assert.deepStrictEqual(empty.endpoints ?? [], [])
        yield* api.create(Kinds.pods, pod("db-1"))
        yield* run("db-1", "127.0.1.1", true)
        const slice = yield* eventually(
          "an endpoint",
          Effect.map(slicesOf("db-r"), (slices) =>
            slices.length === 1 && slices[0].endpoints?.length === 1 ? slices[0] : undefined
          )
        )
        assert.match(slice.metadata.name, /^db-r-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
        assert.strictEqual(slice.addressType, "IPv4")
        assert.strictEqual(
          slice.metadata.labels["endpointslice.kubernetes.io/managed-by"],
          "endpointslice-controller.k8s.io"
        )
        assert.deepInclude(slice.metadata.ownerReferences[0], {
          kind: "Service",
          name: "db-r",
          uid: created.metadata.uid ?? "",
          controller: true
        })
        assert.deepStrictEqual(slice.endpoints[0].addresses, ["127.0.1.1"])
        assert.deepStrictEqual(slice.endpoints[0].conditions, { ready: true, serving: true, terminating: false })
        yield* api.delete(Kinds.services, { namespace: "default", name: "db-r" })
        yield* eventually(
          "the slice collected",
          Effect.map(slicesOf("db-r"), (slices) => (slices.length === 0 ? true : undefined))
        )
        yield* eventually(
          "the Endpoints deleted",
          Effect.map(endpointsOf("db-r"), (value) => (value === undefined ? true : undefined))
        )
      })
    )
  )

  it.live(`${DNS}#pods: a headless Service's Pods with hostname and subdomain carry their hostname`, () =>
    controllerTest(() =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        yield* api.create(Kinds.services, service("main-instances", "None"))
        yield* api.create(Kinds.pods, pod("main-1", { hostname: "main-1", subdomain: "main-instances" }))
        yield* run("main-1", "127.0.1.5", true)
        const endpoints = yield* eventually(
          "the address",
          Effect.map(endpointsOf("main-instances"), (value) =>
            value?.subsets?.[0]?.addresses?.length === 1 ? value : undefined
          )
        )
        assert.strictEqual(endpoints.subsets[0].addresses[0].hostname, "main-1")
        assert.strictEqual(endpoints.metadata.labels["service.kubernetes.io/headless"], "")
        const [slice] = yield* slicesOf("main-instances")
        assert.strictEqual(slice.endpoints[0].hostname, "main-1")
      })
    )
  )
})
