/**
 * The node agent's image table: which image references it can run and as what. It has no container runtime
 * and pulls nothing, so an image is runnable only when this machine already has what the image would carry:
 * the operator image and the MariaDB instance images run `bin/cloudnative-mysql.js` under the project's
 * Node 24 with the host's MariaDB binaries; every other reference fails as an unpullable image would.
 *
 * Image metadata the kubelet would read from the image config is fixed here: the entrypoint
 * (`cloudnative-mysql`), the default arguments, the user (65532 for the operator image, 999 for instance
 * images, as distroless and the official MySQL images use) and `PATH`.
 *
 * @since 0.1.0
 */
import { instanceImageOf, operatorImageRepository } from "../../api/images.ts"

/**
 * Where the launchers appear inside a container of one of our images (bind-mounted there read-only, like a
 * directory of the image, so no volume of the Pod can hide them).
 */
export const imageBinPath = "/opt/cloudnative-mysql/bin"

/**
 * Where this checkout (the build the images carry, with its Node 24) appears inside a container of one of our
 * images. The launchers point here rather than at the checkout's host path, which a Pod's own volume (an
 * `emptyDir` on `/tmp`, say) could hide.
 */
export const imageAppPath = "/opt/cloudnative-mysql/app"

/** What the runtime takes from an image it can run. */
export interface ImageConfig {
  readonly entrypoint: ReadonlyArray<string>
  readonly cmd: ReadonlyArray<string>
  readonly user: number
  readonly group: number
  readonly path: string
}

export type ImageResolution =
  | { readonly _tag: "Runnable"; readonly config: ImageConfig }
  | { readonly _tag: "Unavailable"; readonly message: string }

const systemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const repositoryOf = (reference: string): string => {
  const withoutDigest = reference.split("@")[0] ?? reference
  const slash = withoutDigest.lastIndexOf("/")
  const colon = withoutDigest.lastIndexOf(":")
  return colon > slash ? withoutDigest.slice(0, colon) : withoutDigest
}

/**
 * Resolves an image reference. The image's `PATH` starts with `imageBinPath`, where the `cloudnative-mysql`
 * and `node` launchers (the project's Node 24 on this checkout) are mounted.
 */
export const resolveImage = (reference: string): ImageResolution => {
  const path = `${imageBinPath}:${systemPath}`
  if (repositoryOf(reference) === operatorImageRepository) {
    return { _tag: "Runnable", config: { entrypoint: ["cloudnative-mysql"], cmd: [], user: 65532, group: 65532, path } }
  }
  const instance = instanceImageOf(reference)
  if (instance?.flavor === "mariadb") {
    return {
      _tag: "Runnable",
      config: { entrypoint: ["cloudnative-mysql"], cmd: ["instance"], user: 999, group: 999, path }
    }
  }
  const why =
    instance === undefined
      ? "the sandbox runs only the cloudnative-mysql operator image and its MariaDB instance images"
      : `the sandbox cannot run ${instance.server} (${instance.backupTool}): only MariaDB is installed on this machine`
  return {
    _tag: "Unavailable",
    message: `Failed to pull image "${reference}": ${why}`
  }
}
