/**
 * Volumes as the kubelet sets them up before a Pod's containers start (Volumes; Projected volumes; Configure a
 * security context: `fsGroup`): each volume becomes a directory under `<podDir>/volumes/<name>` that the
 * runtime bind-mounts at every `mountPath` that names it.
 *
 * - `emptyDir`: an empty directory (mode 0777) living as long as the Pod; `medium: Memory` is a directory too.
 * - `secret`, `configMap`: one file per key, or per `items` entry at its `path`; mode `items[].mode`, else
 *   `defaultMode`, else 0644; a missing object or key fails the mount unless `optional`.
 * - `downwardAPI`: files of Pod fields and container resources.
 * - `projected`: secrets, config maps, downward API items and a service-account token in one directory.
 * - `persistentVolumeClaim`: the bound PersistentVolume's `spec.hostPath.path`, used in place.
 * - the service-account volume (`kube-api-access`, `token`, `ca.crt`, `namespace`) at
 *   `/var/run/secrets/kubernetes.io/serviceaccount` unless `automountServiceAccountToken: false`.
 *
 * With `fsGroup`, writable volumes are made group-owned by it, group-writable and setgid, read-only ones
 * group-readable, as the kubelet's ownership manager does.
 *
 * @since 0.1.0
 */
import { chmod, chown, lstat, mkdir, readdir, writeFile } from "node:fs/promises"
import { dirname, join, normalize } from "node:path"
import { Data, Effect } from "effect"
import { type DownwardPod, fieldValue, type NodeAllocatable, resourceValue } from "./downward.ts"
import type { Container, DownwardItem, KeyToPath, PodSpec, Volume } from "./podSpec.ts"

/** A volume cannot be set up (kubelet event `FailedMount`; the Pod stays `ContainerCreating`). */
export class VolumeSetupError extends Data.TaggedError("VolumeSetupError")<{
  readonly message: string
  /** What failed, without the `MountVolume.SetUp failed for volume …` frame (set for a volume's own failures). */
  readonly detail?: string
}> {}

/** Where the service-account volume goes in every container. */
export const serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
/** The name the kubelet's admission gives the service-account volume. */
export const serviceAccountVolumeName = "kube-api-access-sandbox"

/** A prepared volume: its host directory and whether the kubelet treats it as read-only content. */
export interface PreparedVolume {
  readonly name: string
  readonly path: string
  readonly readOnlyContent: boolean
}

export interface VolumeSources {
  readonly podDir: string
  readonly pod: DownwardPod
  readonly spec: PodSpec
  readonly node: NodeAllocatable
  readonly secret: (name: string) => Effect.Effect<Readonly<Record<string, Buffer>> | undefined>
  readonly configMap: (name: string) => Effect.Effect<Readonly<Record<string, Buffer>> | undefined>
  /** The host directory of a bound claim, or the scheduler-style reason it has none. */
  readonly claimPath: (claim: string) => Effect.Effect<string, VolumeSetupError>
  /** `ca.crt` of the service-account volume. */
  readonly caCertificate: string
  /** The token the service-account volume holds. */
  readonly token: (serviceAccount: string) => string
}

const failed = (volume: string, why: string) =>
  new VolumeSetupError({ message: `MountVolume.SetUp failed for volume "${volume}" : ${why}`, detail: why })

/**
 * The kubelet's aggregate of a projected volume's source errors (`utilerrors.NewAggregate`): each distinct
 * message once, one as it is, several as `[a, b]`.
 */
const aggregate = (volume: string, errors: ReadonlyArray<VolumeSetupError>): VolumeSetupError => {
  const distinct = [...new Set(errors.map((error) => error.detail ?? error.message))]
  return failed(volume, distinct.length === 1 ? (distinct[0] ?? "") : `[${distinct.join(", ")}]`)
}

const io = <A>(volume: string, f: () => Promise<A>): Effect.Effect<A, VolumeSetupError> =>
  Effect.tryPromise({
    try: f,
    catch: (cause) => failed(volume, cause instanceof Error ? cause.message : String(cause))
  })

/** A relative path that stays inside the volume (no absolute path, no `..`), as validation requires. */
const safeRelative = (path: string): boolean =>
  path !== "" && !path.startsWith("/") && !normalize(path).startsWith("..") && !path.split("/").includes("..")

interface FileEntry {
  readonly path: string
  readonly content: Buffer
  readonly mode: number
}

const keyedFiles = (
  volume: string,
  kind: "secret" | "configmap",
  data: Readonly<Record<string, Buffer>>,
  items: ReadonlyArray<KeyToPath> | undefined,
  mode: number,
  optional: boolean
): Effect.Effect<Array<FileEntry>, VolumeSetupError> =>
  Effect.gen(function* () {
    if (items === undefined) return Object.entries(data).map(([key, content]) => ({ path: key, content, mode }))
    const files: Array<FileEntry> = []
    for (const item of items) {
      const content = data[item.key]
      if (content === undefined) {
        if (optional) continue
        return yield* failed(
          volume,
          `references non-existent ${kind === "secret" ? "secret" : "config"} key: ${item.key}`
        )
      }
      files.push({ path: item.path, content, mode: item.mode ?? mode })
    }
    return files
  })

const downwardFiles = (
  volume: string,
  items: ReadonlyArray<DownwardItem>,
  mode: number,
  sources: VolumeSources
): Effect.Effect<Array<FileEntry>, VolumeSetupError> =>
  Effect.gen(function* () {
    const files: Array<FileEntry> = []
    const containers: ReadonlyArray<Container> = sources.spec.containers
    for (const item of items) {
      let value: string | undefined
      if (item.fieldRef !== undefined) value = fieldValue(sources.pod, item.fieldRef.fieldPath, true)
      else if (item.resourceFieldRef !== undefined) {
        const name = item.resourceFieldRef.containerName
        value = resourceValue(
          containers.find((container) => container.name === name),
          item.resourceFieldRef,
          sources.node
        )
      }
      if (value === undefined) return yield* failed(volume, `unsupported downward API item ${item.path}`)
      files.push({ path: item.path, content: Buffer.from(value), mode: item.mode ?? mode })
    }
    return files
  })

const objectData = (
  volume: string,
  kind: "secret" | "configmap",
  name: string,
  optional: boolean,
  lookup: (name: string) => Effect.Effect<Readonly<Record<string, Buffer>> | undefined>
): Effect.Effect<Readonly<Record<string, Buffer>> | undefined, VolumeSetupError> =>
  Effect.flatMap(lookup(name), (data) =>
    data !== undefined || optional ? Effect.succeed(data) : Effect.fail(failed(volume, `${kind} "${name}" not found`))
  )

/** The files of a `secret` or `configMap` volume: the object's keys (or the listed items), none when it is missing and optional. */
const objectFiles = (
  volume: string,
  kind: "secret" | "configmap",
  name: string,
  source: {
    readonly items?: ReadonlyArray<KeyToPath> | undefined
    readonly defaultMode?: number | undefined
    readonly optional?: boolean | undefined
  },
  lookup: (name: string) => Effect.Effect<Readonly<Record<string, Buffer>> | undefined>
): Effect.Effect<Array<FileEntry>, VolumeSetupError> =>
  Effect.gen(function* () {
    const optional = source.optional === true
    const data = yield* objectData(volume, kind, name, optional, lookup)
    if (data === undefined) return []
    return yield* keyedFiles(volume, kind, data, source.items, source.defaultMode ?? 0o644, optional)
  })

const filesOf = (volume: Volume, sources: VolumeSources): Effect.Effect<Array<FileEntry>, VolumeSetupError> =>
  Effect.gen(function* () {
    if (volume.secret !== undefined) {
      const { secretName, ...source } = volume.secret
      return yield* objectFiles(volume.name, "secret", secretName ?? "", source, sources.secret)
    }
    if (volume.configMap !== undefined) {
      const { name, ...source } = volume.configMap
      return yield* objectFiles(volume.name, "configmap", name ?? "", source, sources.configMap)
    }
    if (volume.downwardAPI !== undefined) {
      return yield* downwardFiles(
        volume.name,
        volume.downwardAPI.items ?? [],
        volume.downwardAPI.defaultMode ?? 0o644,
        sources
      )
    }
    if (volume.projected !== undefined) {
      const mode = volume.projected.defaultMode ?? 0o644
      const files: Array<FileEntry> = []
      // as the kubelet's projected plugin: every Secret and ConfigMap source is tried, their errors reported together
      const sourceErrors: Array<VolumeSetupError> = []
      for (const source of volume.projected.sources ?? []) {
        for (const [kind, projection] of [
          ["secret", source.secret],
          ["configmap", source.configMap]
        ] as const) {
          if (projection === undefined) continue
          const optional = projection.optional === true
          const projected = yield* Effect.result(
            Effect.flatMap(
              objectData(
                volume.name,
                kind,
                projection.name ?? "",
                optional,
                kind === "secret" ? sources.secret : sources.configMap
              ),
              (data) =>
                data === undefined
                  ? Effect.succeed([])
                  : keyedFiles(volume.name, kind, data, projection.items, mode, optional)
            )
          )
          if (projected._tag === "Success") files.push(...projected.success)
          else sourceErrors.push(projected.failure)
        }
        if (source.downwardAPI !== undefined) {
          files.push(...(yield* downwardFiles(volume.name, source.downwardAPI.items ?? [], mode, sources)))
        }
        if (source.serviceAccountToken !== undefined) {
          files.push({
            path: source.serviceAccountToken.path,
            content: Buffer.from(sources.token(sources.pod.serviceAccountName)),
            mode
          })
        }
      }
      if (sourceErrors.length > 0) return yield* aggregate(volume.name, sourceErrors)
      return files
    }
    return []
  })

const writeFiles = (volume: string, dir: string, files: ReadonlyArray<FileEntry>, fsGroup: number | undefined) =>
  io(volume, async () => {
    await mkdir(dir, { recursive: true, mode: 0o755 })
    for (const file of files) {
      if (!safeRelative(file.path))
        throw new Error(`invalid path ${file.path}: must be relative and may not contain '..'`)
      const target = join(dir, file.path)
      await mkdir(dirname(target), { recursive: true, mode: 0o755 })
      await writeFile(target, file.content)
      // with fsGroup the kubelet makes read-only content group-readable
      await chmod(target, fsGroup === undefined ? file.mode & 0o777 : (file.mode | 0o440) & 0o777)
      if (fsGroup !== undefined) await chown(target, 0, fsGroup)
    }
  })

/** The ownership manager: group `fsGroup`, `g+rw` on files and `g+rwxs` on directories, recursively. */
const applyFsGroup = async (path: string, fsGroup: number, onRootMismatch: boolean): Promise<void> => {
  const root = await lstat(path)
  if (onRootMismatch && root.gid === fsGroup && (root.mode & 0o2070) === 0o2070) return
  const walk = async (entry: string): Promise<void> => {
    const info = await lstat(entry)
    if (info.isSymbolicLink()) return
    await chown(entry, info.uid, fsGroup)
    if (info.isDirectory()) {
      await chmod(entry, (info.mode & 0o7777) | 0o2070)
      for (const child of await readdir(entry)) await walk(join(entry, child))
    } else {
      await chmod(entry, (info.mode & 0o7777) | 0o060)
    }
  }
  await walk(path)
}

/** The service-account volume the admission plugin would add. */
export const serviceAccountVolume: Volume = {
  name: serviceAccountVolumeName,
  projected: {
    defaultMode: 0o644,
    sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 3607 } }]
  }
}

/** Sets up every volume of the Pod (and the service-account volume when it is mounted automatically). */
export const prepareVolumes = (
  sources: VolumeSources,
  withServiceAccount: boolean
): Effect.Effect<ReadonlyArray<PreparedVolume>, VolumeSetupError> =>
  Effect.gen(function* () {
    const fsGroup = sources.spec.securityContext?.fsGroup
    const onRootMismatch = sources.spec.securityContext?.fsGroupChangePolicy === "OnRootMismatch"
    const prepared: Array<PreparedVolume> = []
    const volumes = [...(sources.spec.volumes ?? []), ...(withServiceAccount ? [serviceAccountVolume] : [])]
    for (const volume of volumes) {
      const dir = join(sources.podDir, "volumes", volume.name)
      if (volume.persistentVolumeClaim !== undefined) {
        const path = yield* sources.claimPath(volume.persistentVolumeClaim.claimName)
        if (fsGroup !== undefined) yield* io(volume.name, () => applyFsGroup(path, fsGroup, onRootMismatch))
        prepared.push({ name: volume.name, path, readOnlyContent: volume.persistentVolumeClaim.readOnly === true })
        continue
      }
      if (volume.emptyDir !== undefined) {
        yield* io(volume.name, async () => {
          await mkdir(dir, { recursive: true })
          await chmod(dir, 0o777)
          if (fsGroup !== undefined) await applyFsGroup(dir, fsGroup, onRootMismatch)
        })
        prepared.push({ name: volume.name, path: dir, readOnlyContent: false })
        continue
      }
      if (
        volume.secret === undefined &&
        volume.configMap === undefined &&
        volume.downwardAPI === undefined &&
        volume.projected === undefined
      ) {
        return yield* failed(volume.name, "this volume type is not supported by the sandbox node")
      }
      const files = yield* filesOf(volume, sources)
      if (volume.name === serviceAccountVolumeName) {
        files.push({ path: "ca.crt", content: Buffer.from(sources.caCertificate), mode: 0o644 })
        files.push({ path: "namespace", content: Buffer.from(sources.pod.namespace), mode: 0o644 })
      }
      yield* writeFiles(volume.name, dir, files, fsGroup)
      if (fsGroup !== undefined) yield* io(volume.name, () => chown(dir, 0, fsGroup))
      prepared.push({ name: volume.name, path: dir, readOnlyContent: true })
    }
    return prepared
  })
