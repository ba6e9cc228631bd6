/**
 * The Endpoints and EndpointSlice controllers of kube-controller-manager, for Services with a selector:
 * the Pods the selector matches that have an IP and are not terminal become addresses, `ready` from the
 * Pod's `Ready` condition (or always, with `publishNotReadyAddresses`), ports resolved from each Service
 * port's `targetPort` (a number, or a container port name looked up in the Pod). A Pod whose `hostname` is
 * set and whose `subdomain` names the Service gets that `hostname` on its address (per-Pod DNS of a headless
 * Service).
 *
 * - `Endpoints` `<service>`: `subsets` grouped by resolved ports, ready Pods under `addresses`, the others
 *   under `notReadyAddresses`; Pods being deleted are left out. Deleted with its Service.
 * - `EndpointSlice`s `<service>-<random>` (labels `kubernetes.io/service-name`,
 *   `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, owned by the Service): one per
 *   distinct port set, IPv4, every endpoint with `conditions.ready`/`serving`/`terminating` (Pods being deleted
 *   stay, `terminating: true`, `ready: false`); an empty Service keeps one slice with no endpoints.
 *
 * Services without a selector are left alone (their Endpoints are the user's).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { KubeError } from "../../kube/errors.ts"
import { KubeApi } from "../../kube/KubeApi.ts"
import { parseKey } from "../../kube/resources.ts"
import { jsonEqual } from "../StoredObject.ts"
import {
  controllerReference,
  ignoreNotFound,
  isControlledBy,
  isDeleting,
  isReady,
  isTerminal,
  type RunningController,
  startInformer,
  startQueue
} from "./informer.ts"
import { type EndpointSlice, Kinds, type Pod, type Service } from "./kinds.ts"

/** `endpointslice.kubernetes.io/managed-by` of the slices this controller writes. */
export const sliceManager = "endpointslice-controller.k8s.io"

interface Port {
  readonly name?: string
  readonly port: number
  readonly protocol: string
}

interface Address {
  readonly pod: Pod
  readonly ready: boolean
  readonly terminating: boolean
  readonly ports: ReadonlyArray<Port>
}

const portsOf = (service: Service, pod: Pod): ReadonlyArray<Port> =>
  (service.spec?.ports ?? []).flatMap((servicePort) => {
    const target = servicePort.targetPort ?? servicePort.port
    const protocol = servicePort.protocol ?? "TCP"
    const named = servicePort.name === undefined || servicePort.name === "" ? {} : { name: servicePort.name }
    if (typeof target === "number") return [{ ...named, port: target, protocol }]
    const numeric = Number(target)
    if (Number.isInteger(numeric) && target !== "") return [{ ...named, port: numeric, protocol }]
    const found = (pod.spec?.containers ?? [])
      .flatMap((container) => container.ports ?? [])
      .find((port) => port.name === target && (port.protocol ?? "TCP") === protocol)
    return found === undefined ? [] : [{ ...named, port: found.containerPort, protocol }]
  })

const targetRef = (pod: Pod) => ({
  kind: "Pod",
  namespace: pod.metadata.namespace ?? "",
  name: pod.metadata.name ?? "",
  uid: pod.metadata.uid ?? ""
})

const hostnameOf = (service: Service, pod: Pod) =>
  pod.spec?.hostname !== undefined && pod.spec.subdomain === service.metadata.name
    ? { hostname: pod.spec.hostname }
    : {}

const nodeNameOf = (pod: Pod) => (pod.spec?.nodeName === undefined ? {} : { nodeName: pod.spec.nodeName })

const portsKey = (ports: ReadonlyArray<Port>) =>
  JSON.stringify([...ports].sort((a, b) => (a.name ?? "").localeCompare(b.name ?? "") || a.port - b.port))

const groupByPorts = (addresses: ReadonlyArray<Address>) => {
  const groups = new Map<string, { ports: ReadonlyArray<Port>; members: Array<Address> }>()
  for (const address of addresses) {
    const key = portsKey(address.ports)
    const group = groups.get(key) ?? { ports: address.ports, members: [] }
    group.members.push(address)
    groups.set(key, group)
  }
  return [...groups.values()]
}

const byName = (a: Address, b: Address) => (a.pod.metadata.name ?? "").localeCompare(b.pod.metadata.name ?? "")

/** Starts the Endpoints and EndpointSlice controllers in the current scope. */
export const startEndpointsController = Effect.gen(function* () {
  const api = yield* KubeApi

  const labelsFor = (service: Service) => ({
    ...service.metadata.labels,
    ...(service.spec?.clusterIP === "None" ? { "service.kubernetes.io/headless": "" } : {})
  })

  const writeEndpoints = (service: Service, addresses: ReadonlyArray<Address>) =>
    Effect.gen(function* () {
      const ref = { namespace: service.metadata.namespace, name: service.metadata.name ?? "" }
      const subsets = groupByPorts(addresses.filter((address) => !address.terminating && address.ports.length > 0)).map(
        ({ ports, members }) => {
          const entry = (address: Address) => ({
            ip: address.pod.status?.podIP ?? "",
            ...hostnameOf(service, address.pod),
            ...nodeNameOf(address.pod),
            targetRef: targetRef(address.pod)
          })
          const ready = members.filter((address) => address.ready).sort(byName)
          const notReady = members.filter((address) => !address.ready).sort(byName)
          return {
            ...(ready.length === 0 ? {} : { addresses: ready.map(entry) }),
            ...(notReady.length === 0 ? {} : { notReadyAddresses: notReady.map(entry) }),
            ports
          }
        }
      )
      const desired = {
        metadata: { namespace: ref.namespace ?? "", name: ref.name, labels: labelsFor(service) },
        subsets
      }
      const existing = yield* ignoreNotFound(api.get(Kinds.endpoints, ref))
      if (existing === undefined) {
        yield* api.create(Kinds.endpoints, desired).pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
        return
      }
      if (
        jsonEqual(existing.subsets ?? [], subsets) &&
        jsonEqual(existing.metadata.labels ?? {}, desired.metadata.labels)
      )
        return
      yield* api.replace(Kinds.endpoints, {
        ...existing,
        metadata: { ...existing.metadata, labels: desired.metadata.labels },
        subsets
      })
    })

  const writeSlices = (service: Service, addresses: ReadonlyArray<Address>) =>
    Effect.gen(function* () {
      const namespace = service.metadata.namespace ?? ""
      const name = service.metadata.name ?? ""
      const groups = groupByPorts(addresses)
      const desired = (groups.length === 0 ? [{ ports: [] as ReadonlyArray<Port>, members: [] }] : groups).map(
        ({ ports, members }) => ({
          ports,
          endpoints: [...members].sort(byName).map((address) => ({
            addresses: [address.pod.status?.podIP ?? ""],
            conditions: {
              ready: address.ready && !address.terminating,
              serving: address.ready,
              terminating: address.terminating
            },
            ...hostnameOf(service, address.pod),
            ...nodeNameOf(address.pod),
            targetRef: targetRef(address.pod)
          }))
        })
      )
      const labels = {
        ...labelsFor(service),
        "kubernetes.io/service-name": name,
        "endpointslice.kubernetes.io/managed-by": sliceManager
      }
      const existing = (yield* api.list(Kinds.endpointSlices, {
        namespace,
        labelSelector: `kubernetes.io/service-name=${name},endpointslice.kubernetes.io/managed-by=${sliceManager}`
      })).items.filter((slice) => isControlledBy(slice, service))
      const unused = [...existing]
      for (const slice of desired) {
        const index = unused.findIndex(
          (item) => portsKey((item.ports ?? []) as ReadonlyArray<Port>) === portsKey(slice.ports)
        )
        const match = index < 0 ? undefined : unused.splice(index, 1)[0]
        if (match === undefined) {
          yield* api.create(Kinds.endpointSlices, {
            metadata: {
              generateName: `${name}-`,
              namespace,
              labels,
              ownerReferences: [controllerReference("v1", "Service", service)]
            },
            addressType: "IPv4",
            endpoints: slice.endpoints,
            ports: slice.ports
          } satisfies EndpointSlice)
        } else if (
          !jsonEqual(match.endpoints ?? [], slice.endpoints) ||
          !jsonEqual(match.metadata.labels ?? {}, labels)
        ) {
          yield* api.replace(Kinds.endpointSlices, {
            ...match,
            metadata: { ...match.metadata, labels },
            endpoints: slice.endpoints
          })
        }
      }
      for (const slice of unused) {
        yield* ignoreNotFound(api.delete(Kinds.endpointSlices, { namespace, name: slice.metadata.name ?? "" }))
      }
    })

  const reconcile = (key: string): Effect.Effect<void, KubeError> =>
    Effect.gen(function* () {
      const ref = parseKey(key)
      const service = yield* ignoreNotFound(api.get(Kinds.services, ref))
      if (service === undefined || isDeleting(service)) {
        yield* ignoreNotFound(api.delete(Kinds.endpoints, ref))
        return
      }
      const selector = service.spec?.selector
      if (selector === undefined || Object.keys(selector).length === 0) return
      const pods = (yield* api.list(Kinds.pods, {
        namespace: ref.namespace,
        labelSelector: Object.entries(selector)
          .map(([name, value]) => `${name}=${value}`)
          .join(",")
      })).items
      const publishNotReady = service.spec?.publishNotReadyAddresses === true
      const addresses = pods
        .filter((pod) => !isTerminal(pod) && (pod.status?.podIP ?? "") !== "")
        .map((pod) => ({
          pod,
          ready: publishNotReady || isReady(pod),
          terminating: isDeleting(pod),
          ports: portsOf(service, pod)
        }))
      yield* writeEndpoints(service, addresses)
      yield* writeSlices(service, addresses)
    }).pipe(Effect.withSpan("EndpointsController.reconcile", { attributes: { key } }))

  const queue = yield* startQueue("endpoints-controller", reconcile)
  const services = yield* startInformer(Kinds.services, (event) => queue.add(event.key))
  // a Pod may have joined or left any selector in its namespace: look at every Service there
  const pods = yield* startInformer(Kinds.pods, (event) =>
    Effect.flatMap(services.list(event.object.metadata.namespace), (all) =>
      Effect.forEach(
        all.filter((service) => service.spec?.selector !== undefined),
        (service) => queue.add(`${service.metadata.namespace ?? ""}/${service.metadata.name ?? ""}`),
        { discard: true }
      )
    )
  )
  return { synced: Effect.andThen(services.synced, pods.synced) } satisfies RunningController
})
