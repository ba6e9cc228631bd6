/**
 * What every Pod that reaches the object store carries (the backup worker, the recovery Job, the binlog
 * archiver): the spec in `OBJECT_STORE_SPEC`, the referenced Secret keys as files in one projected volume
 * (`OBJECT_STORE_SECRETS_DIR`, see `src/objectstore/connection.ts`), and `HOME` for the S3 SDK. The credentials
 * are mounted there only, never in a database Pod.
 *
 * @since 0.2.0
 */
import type { SecretKeySelector } from "../api/common.ts"
import type { ObjectStore } from "../api/objectStore.ts"

/** The name of the projected volume of the object store's Secret files. */
export const objectStoreVolumeName = "object-store"

/** The secret files an object store needs: file name (spec field) → Secret key reference. */
export const objectStoreSecretFiles = (store: ObjectStore): ReadonlyArray<readonly [string, SecretKeySelector]> => {
  const files: Array<readonly [string, SecretKeySelector]> = []
  const add = (file: string, ref: SecretKeySelector | undefined) => {
    if (ref !== undefined) files.push([file, ref])
  }
  add("accessKeyId", store.credentials.accessKeyId)
  add("secretAccessKey", store.credentials.secretAccessKey)
  add("sessionToken", store.credentials.sessionToken)
  add("caBundle", store.caBundle)
  add("customerKey", store.serverSideEncryption?.customerKey)
  return files
}

/**
 * The S3 SDK resolves the home directory while loading its shared config; an image user without a passwd entry
 * has none (uv_os_homedir ENOENT). Nothing is written there: the root file system stays read-only.
 */
export const sdkHome = { HOME: "/tmp" } as const

/** A Pod's access to `store` with its Secret files mounted at `secretsDir`. */
export interface ObjectStoreAccess {
  /** `OBJECT_STORE_SPEC`, `OBJECT_STORE_SECRETS_DIR` and `HOME`, in that order. */
  readonly env: {
    readonly OBJECT_STORE_SPEC: string
    readonly OBJECT_STORE_SECRETS_DIR: string
    readonly HOME: string
  }
  /** A projected volume with one file per referenced Secret key (Secrets may differ per key). */
  readonly volume: {
    readonly name: string
    readonly projected: {
      readonly defaultMode: number
      readonly sources: ReadonlyArray<{
        readonly secret: { readonly name: string; readonly items: ReadonlyArray<{ key: string; path: string }> }
      }>
    }
  }
  readonly volumeMount: { readonly name: string; readonly mountPath: string; readonly readOnly: true }
  /** The volume, or none when the spec references no Secret key (nothing to mount). */
  readonly volumes: ReadonlyArray<ObjectStoreAccess["volume"]>
  /** The mount, or none when the spec references no Secret key. */
  readonly volumeMounts: ReadonlyArray<ObjectStoreAccess["volumeMount"]>
}

/** The env, volume and mount a Pod needs to reach `store` (see the module comment). */
export const objectStoreAccess = (store: ObjectStore, secretsDir: string): ObjectStoreAccess => {
  const files = objectStoreSecretFiles(store)
  const volume = {
    name: objectStoreVolumeName,
    projected: {
      defaultMode: 0o400,
      sources: files.map(([file, ref]) => ({ secret: { name: ref.name, items: [{ key: ref.key, path: file }] } }))
    }
  }
  const volumeMount = { name: objectStoreVolumeName, mountPath: secretsDir, readOnly: true } as const
  const none = files.length === 0
  return {
    env: { OBJECT_STORE_SPEC: JSON.stringify(store), OBJECT_STORE_SECRETS_DIR: secretsDir, ...sdkHome },
    volume,
    volumeMount,
    volumes: none ? [] : [volume],
    volumeMounts: none ? [] : [volumeMount]
  }
}
