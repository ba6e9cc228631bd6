/**
 * The downward API's values (Downward API concept page): the Pod fields `fieldRef` may name and the container
 * resources `resourceFieldRef` may name, formatted as the kubelet formats them. Shared by environment variables
 * and `downwardAPI` volumes.
 *
 * @since 0.1.0
 */
import type { Container, ResourceFieldSelector } from "./podSpec.ts"

/** The Pod facts the downward API reads. */
export interface DownwardPod {
  readonly name: string
  readonly namespace: string
  readonly uid: string
  readonly labels: Readonly<Record<string, string>>
  readonly annotations: Readonly<Record<string, string>>
  readonly nodeName: string
  readonly serviceAccountName: string
  readonly podIP: string
  readonly hostIP: string
}

/** The node's allocatable resources: what `limits.*` reads when a container sets no limit. */
export interface NodeAllocatable {
  readonly cpuCores: number
  readonly memoryBytes: number
  readonly ephemeralStorageBytes: number
}

const quoted = (record: Readonly<Record<string, string>>): string =>
  Object.keys(record)
    .sort()
    .map(
      (key) => `${key}="${(record[key] ?? "").replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`
    )
    .join("\n")

const subscript = /^metadata\.(labels|annotations)\['(.+)'\]$/u

/** A `fieldRef` value, or undefined when the field is not one the downward API supports. */
export const fieldValue = (pod: DownwardPod, fieldPath: string, inVolume: boolean): string | undefined => {
  const keyed = subscript.exec(fieldPath)
  if (keyed !== null) {
    const record = keyed[1] === "labels" ? pod.labels : pod.annotations
    return record[keyed[2] ?? ""] ?? ""
  }
  switch (fieldPath) {
    case "metadata.name":
      return pod.name
    case "metadata.namespace":
      return pod.namespace
    case "metadata.uid":
      return pod.uid
    case "metadata.labels":
      return inVolume ? quoted(pod.labels) : undefined
    case "metadata.annotations":
      return inVolume ? quoted(pod.annotations) : undefined
    case "spec.nodeName":
      return inVolume ? undefined : pod.nodeName
    case "spec.serviceAccountName":
      return inVolume ? undefined : pod.serviceAccountName
    case "status.podIP":
    case "status.podIPs":
      return inVolume ? undefined : pod.podIP
    case "status.hostIP":
    case "status.hostIPs":
      return inVolume ? undefined : pod.hostIP
    default:
      return undefined
  }
}

const suffixes: ReadonlyArray<readonly [string, number]> = [
  ["Ki", 2 ** 10],
  ["Mi", 2 ** 20],
  ["Gi", 2 ** 30],
  ["Ti", 2 ** 40],
  ["Pi", 2 ** 50],
  ["Ei", 2 ** 60],
  ["n", 1e-9],
  ["u", 1e-6],
  ["m", 1e-3],
  ["k", 1e3],
  ["M", 1e6],
  ["G", 1e9],
  ["T", 1e12],
  ["P", 1e15],
  ["E", 1e18]
]

/** A resource quantity (`500m`, `64Mi`, `1.5`, `1e3`) as a number, or undefined when it is not one. */
export const parseQuantity = (quantity: string | number): number | undefined => {
  if (typeof quantity === "number") return quantity
  const text = quantity.trim()
  for (const [suffix, factor] of suffixes) {
    if (text.endsWith(suffix)) {
      const value = Number(text.slice(0, -suffix.length))
      return text.length > suffix.length && Number.isFinite(value) ? value * factor : undefined
    }
  }
  const value = Number(text)
  return text !== "" && Number.isFinite(value) ? value : undefined
}

/** A `resourceFieldRef` value: the request or limit divided by the divisor and rounded up, as the kubelet does. */
export const resourceValue = (
  container: Container | undefined,
  selector: ResourceFieldSelector,
  node: NodeAllocatable
): string | undefined => {
  const [kind, resource] = selector.resource.split(".")
  if ((kind !== "limits" && kind !== "requests") || resource === undefined) return undefined
  const allocatable =
    resource === "cpu"
      ? node.cpuCores
      : resource === "memory"
        ? node.memoryBytes
        : resource === "ephemeral-storage"
          ? node.ephemeralStorageBytes
          : undefined
  if (allocatable === undefined) return undefined
  const resources = container?.resources
  const set = kind === "limits" ? resources?.limits?.[resource] : resources?.requests?.[resource]
  // an unset limit reads as the node's allocatable; an unset request as the limit, else 0 (cpu: 0 → 1 below)
  const fallback = kind === "limits" ? allocatable : (resources?.limits?.[resource] ?? 0)
  const amount = parseQuantity(set ?? fallback)
  const divisor = parseQuantity(selector.divisor ?? 1)
  if (amount === undefined || divisor === undefined || divisor <= 0) return undefined
  const value = Math.ceil(amount / divisor - 1e-9)
  return String(resource === "cpu" ? Math.max(1, value) : value)
}
