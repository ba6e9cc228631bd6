/**
 * The images the project ships, and which server flavour and tool versions each instance image carries. The
 * controller, the sandbox's node agent and the image build read this one table.
 *
 * @since 0.1.0
 */
import type { FlavorName } from "./common.ts"

/** Where the images are published. */
export const imageRegistry = "ghcr.io/cloudnative-mysql"

/** The operator image (controller, worker, restore, plugin): `<repository>:<version>`. */
export const operatorImageRepository = `${imageRegistry}/cloudnative-mysql`

/** The instance images: server + backup tool of matching versions + the same cloudnative-mysql build. */
export const instanceImageRepository = `${imageRegistry}/cloudnative-mysql-instance`

/** One instance image tag. */
export interface InstanceImage {
  readonly tag: string
  readonly flavor: FlavorName
  readonly server: string
  readonly backupTool: string
}

/** Every instance image tag we build. */
export const instanceImages: ReadonlyArray<InstanceImage> = [
  { tag: "8.4", flavor: "mysql", server: "MySQL 8.4", backupTool: "Percona XtraBackup 8.4" },
  { tag: "mariadb-10.11", flavor: "mariadb", server: "MariaDB 10.11", backupTool: "mariabackup 10.11" },
  { tag: "mariadb-11.4", flavor: "mariadb", server: "MariaDB 11.4", backupTool: "mariabackup 11.4" }
]

/** The full reference of an instance image. */
export const instanceImage = (tag: string): string => `${instanceImageRepository}:${tag}`

/** The instance image a reference names (`repository:tag`, optionally `@digest`), when it is one of ours. */
export const instanceImageOf = (reference: string): InstanceImage | undefined => {
  const withoutDigest = reference.split("@")[0] ?? reference
  const colon = withoutDigest.lastIndexOf(":")
  if (colon < 0 || withoutDigest.slice(0, colon) !== instanceImageRepository) return undefined
  const tag = withoutDigest.slice(colon + 1)
  return instanceImages.find((image) => image.tag === tag)
}

/** The server flavour of an image: from our image table, else guessed from its name (custom builds). */
export const flavorOfImage = (image: string): FlavorName =>
  instanceImageOf(image)?.flavor ?? (image.includes("mariadb") ? "mariadb" : "mysql")

/** The operator image of a release (`version` is the package version, e.g. `0.1.0`). */
export const operatorImage = (version: string): string => `${operatorImageRepository}:${version}`
