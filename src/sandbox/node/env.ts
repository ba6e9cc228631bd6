/**
 * A container's environment as the kubelet builds it (Define environment variables for a container;
 * Expose Pod information through environment variables): `envFrom` first, then `env` in order, each value
 * with `$(VAR)` references to earlier variables expanded (`$$` escapes), `valueFrom` from Secrets, ConfigMaps,
 * the Pod's fields and the container's resources. A missing object or key that is not optional is the
 * kubelet's `CreateContainerConfigError`, with its message; the container then stays waiting.
 *
 * @since 0.1.0
 */
import { Data, Effect } from "effect"
import { type DownwardPod, fieldValue, type NodeAllocatable, resourceValue } from "./downward.ts"
import type { Container } from "./podSpec.ts"

/** The container cannot be configured (kubelet reason `CreateContainerConfigError`). */
export class ContainerConfigError extends Data.TaggedError("ContainerConfigError")<{ readonly message: string }> {}

/** Reads a Secret's or ConfigMap's data (decoded); undefined when the object does not exist. */
export type DataLookup = (name: string) => Effect.Effect<Readonly<Record<string, string>> | undefined>

export interface EnvironmentSources {
  readonly pod: DownwardPod
  readonly containers: ReadonlyArray<Container>
  readonly node: NodeAllocatable
  readonly secret: DataLookup
  readonly configMap: DataLookup
}

const variableReference = /\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/gu

/** Expands `$(NAME)` from `env` (unknown names stay as written; `$$` becomes `$`), as for env, command and args. */
export const expandReferences = (text: string, env: Readonly<Record<string, string>>): string =>
  text.replace(variableReference, (match, name: string | undefined) =>
    name === undefined ? "$" : (env[name] ?? match)
  )

const required = (kind: "Secret" | "ConfigMap", name: string): ContainerConfigError =>
  new ContainerConfigError({ message: `${kind === "Secret" ? "secret" : "configmap"} "${name}" not found` })

const missingKey = (kind: "Secret" | "ConfigMap", namespace: string, name: string, key: string) =>
  new ContainerConfigError({ message: `couldn't find key ${key} in ${kind} ${namespace}/${name}` })

/**
 * The data of the Secret or ConfigMap `ref` names; `undefined` when it does not exist but is optional (the
 * caller skips it), the kubelet's error when it is required.
 */
const referencedData = (
  sources: EnvironmentSources,
  kind: "Secret" | "ConfigMap",
  ref: { readonly name?: string | undefined; readonly optional?: boolean | undefined }
): Effect.Effect<Readonly<Record<string, string>> | undefined, ContainerConfigError> =>
  Effect.gen(function* () {
    const name = ref.name ?? ""
    const data = yield* (kind === "Secret" ? sources.secret : sources.configMap)(name)
    if (data === undefined && ref.optional !== true) return yield* required(kind, name)
    return data
  })

/** The environment of `container` (without the image's defaults, which the runtime puts underneath). */
export const containerEnvironment = (
  container: Container,
  sources: EnvironmentSources
): Effect.Effect<Record<string, string>, ContainerConfigError> =>
  Effect.gen(function* () {
    const env: Record<string, string> = {}
    const namespace = sources.pod.namespace
    for (const from of container.envFrom ?? []) {
      const prefix = from.prefix ?? ""
      const ref = from.secretRef ?? from.configMapRef
      if (ref === undefined) continue
      const data = yield* referencedData(sources, from.secretRef !== undefined ? "Secret" : "ConfigMap", ref)
      if (data === undefined) continue
      for (const [key, value] of Object.entries(data)) env[`${prefix}${key}`] = value
    }
    for (const variable of container.env ?? []) {
      const from = variable.valueFrom
      if (from === undefined) {
        env[variable.name] = expandReferences(variable.value ?? "", env)
        continue
      }
      const keyRef = from.secretKeyRef ?? from.configMapKeyRef
      if (keyRef !== undefined) {
        const kind = from.secretKeyRef !== undefined ? "Secret" : "ConfigMap"
        const data = yield* referencedData(sources, kind, keyRef)
        if (data === undefined) continue
        const value = data[keyRef.key]
        if (value === undefined) {
          if (keyRef.optional === true) continue
          return yield* missingKey(kind, namespace, keyRef.name ?? "", keyRef.key)
        }
        env[variable.name] = value
        continue
      }
      if (from.fieldRef !== undefined) {
        const value = fieldValue(sources.pod, from.fieldRef.fieldPath, false)
        if (value === undefined) {
          return yield* new ContainerConfigError({
            message: `unsupported fieldPath: ${from.fieldRef.fieldPath}`
          })
        }
        env[variable.name] = value
        continue
      }
      if (from.resourceFieldRef !== undefined) {
        const target =
          from.resourceFieldRef.containerName === undefined || from.resourceFieldRef.containerName === ""
            ? container
            : sources.containers.find((candidate) => candidate.name === from.resourceFieldRef?.containerName)
        const value = resourceValue(target, from.resourceFieldRef, sources.node)
        if (value === undefined) {
          return yield* new ContainerConfigError({
            message: `unsupported container resource: ${from.resourceFieldRef.resource}`
          })
        }
        env[variable.name] = value
      }
    }
    return env
  })
