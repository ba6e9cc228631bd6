/**
 * The `/etc/hosts` every container gets: the kubelet's managed file (localhost entries, the Pod's own
 * hostname and FQDN, `hostAliases`) plus what cluster DNS would answer, since the sandbox has no DNS server:
 * `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.cluster.local` for the ready endpoints of every
 * Service with a selector, and `<hostname>.<subdomain>.<ns>.svc.cluster.local` for Pods whose subdomain names a
 * headless Service (DNS for Services and Pods). Short names resolve only within the Pod's namespace, as the
 * search path makes them. Pure: the node agent rewrites the files when this output changes.
 *
 * @since 0.1.0
 */

/** What the renderer needs to know about a Pod. */
export interface HostsPod {
  readonly namespace: string
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly ip: string | undefined
  readonly ready: boolean
  readonly hostname: string | undefined
  readonly subdomain: string | undefined
  readonly hostAliases: ReadonlyArray<{ readonly ip: string; readonly hostnames: ReadonlyArray<string> }>
}

/** What the renderer needs to know about a Service. */
export interface HostsService {
  readonly namespace: string
  readonly name: string
  readonly selector: Readonly<Record<string, string>> | undefined
  readonly headless: boolean
  readonly publishNotReadyAddresses: boolean
}

export const clusterDomain = "cluster.local"

const selects = (selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean =>
  Object.entries(selector).every(([key, value]) => labels[key] === value)

const serviceNames = (service: HostsService, namespace: string): Array<string> => {
  const fqdn = `${service.name}.${service.namespace}.svc.${clusterDomain}`
  const qualified = [`${service.name}.${service.namespace}.svc`, `${service.name}.${service.namespace}`]
  return service.namespace === namespace ? [fqdn, ...qualified, service.name] : [fqdn, ...qualified]
}

/** The hosts file of `self`, given every Pod and Service the node knows. */
export const renderHosts = (
  self: HostsPod,
  pods: ReadonlyArray<HostsPod>,
  services: ReadonlyArray<HostsService>
): string => {
  const lines = [
    "# Kubernetes-managed hosts file (cloudnative-mysql sandbox).",
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "fe00::0\tip6-mcastprefix",
    "fe00::1\tip6-allnodes",
    "fe00::2\tip6-allrouters"
  ]
  const hostname = self.hostname ?? self.name
  if (self.ip !== undefined) {
    lines.push(
      self.subdomain === undefined
        ? `${self.ip}\t${hostname}`
        : `${self.ip}\t${hostname}.${self.subdomain}.${self.namespace}.svc.${clusterDomain}\t${hostname}`
    )
  }
  for (const alias of self.hostAliases) lines.push(`${alias.ip}\t${alias.hostnames.join("\t")}`)
  lines.push("# Cluster DNS records (Services and Pods).")
  const keyOf = (service: HostsService) => `${service.namespace}/${service.name}`
  const sorted = [...services].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0))
  for (const service of sorted) {
    const selector = service.selector
    if (selector === undefined || Object.keys(selector).length === 0) continue
    const endpoints = pods
      .filter(
        (pod) =>
          pod.namespace === service.namespace &&
          pod.ip !== undefined &&
          (pod.ready || service.publishNotReadyAddresses) &&
          selects(selector, pod.labels)
      )
      .sort((a, b) => (a.name < b.name ? -1 : 1))
    const names = serviceNames(service, self.namespace).join("\t")
    for (const pod of endpoints) {
      lines.push(`${pod.ip}\t${names}`)
      if (service.headless && pod.subdomain === service.name && pod.hostname !== undefined) {
        const podFqdn = `${pod.hostname}.${service.name}.${service.namespace}.svc.${clusterDomain}`
        lines.push(
          service.namespace === self.namespace
            ? `${pod.ip}\t${podFqdn}\t${pod.hostname}.${service.name}.${service.namespace}\t${pod.hostname}.${service.name}`
            : `${pod.ip}\t${podFqdn}\t${pod.hostname}.${service.name}.${service.namespace}`
        )
      }
    }
  }
  return `${lines.join("\n")}\n`
}
