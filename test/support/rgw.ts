/**
 * The Ceph RGW shared by the whole test run, as tests see it.
 *
 * `test/support/globalSetup.ts` reserves a state directory and provides it (`inject("rgw")`); the first
 * test that needs RGW starts it there (`await startRgw()`, under a cross-worker lock), every other test and
 * worker reuses it, and globalSetup stops it by PID at the end of the run. A run that selects no RGW test
 * therefore pays nothing.
 *
 * When RGW cannot run (binaries missing outside CI), `startRgw()` rejects with the reason and the install
 * command, so every test that needs it fails instead of passing silently.
 */
import { Effect } from "effect"
import { inject } from "vitest"
import type { ObjectStore } from "../../src/api/objectStore.ts"
import type { ObjectStoreConnection } from "../../src/objectstore/connection.ts"
import { ensureRgwStarted, type RgwEndpoints } from "../../src/sandbox/rgw/rgw.ts"
import { createBucket as createBucketOn, staticConnection } from "../../src/sandbox/s3Endpoint.ts"

/** What globalSetup provides: the state directory RGW runs (or will run) in, or why it cannot run. */
export type RgwProvided =
  | { readonly available: true; readonly stateDir: string }
  | { readonly available: false; readonly reason: string }

declare module "vitest" {
  export interface ProvidedContext {
    rgw: RgwProvided
  }
}

let started: RgwEndpoints | undefined

/** Start the run's RGW if no test did yet, and return its endpoints. Call it in `beforeAll`. */
export const startRgw = async (): Promise<RgwEndpoints> => {
  if (started !== undefined) return started
  const provided = inject("rgw")
  if (provided === undefined) {
    throw new Error("RGW is not provided: add test/support/globalSetup.ts to globalSetup in vitest.config.ts")
  }
  if (!provided.available) throw new Error(`RGW is required by this test but unavailable: ${provided.reason}`)
  started = await Effect.runPromise(ensureRgwStarted(provided.stateDir))
  return started
}

/** The endpoints of the RGW this process started or joined with `startRgw()`. */
export const rgw = (): RgwEndpoints => {
  if (started === undefined) throw new Error("call `await startRgw()` (e.g. in beforeAll) before using RGW")
  return started
}

let bucketCounter = 0
/** A fresh bucket name per call, unique across files and runs sharing the RGW. */
export const uniqueBucketName = (label: string): string =>
  `${label}-${process.pid}-${Date.now().toString(36)}-${(bucketCounter++).toString(36)}`.toLowerCase().slice(0, 63)

/** Create a bucket on the test RGW (starting it if needed). */
export const createBucket = async (name: string): Promise<void> => createBucketOn(await startRgw(), name)

/** A connection to the test RGW over http with SigV4 and path style; `spec` overrides the defaults. */
export const rgwConnection = (
  bucket: string,
  spec: Partial<ObjectStore> = {},
  resolved: Omit<ObjectStoreConnection, "spec"> | undefined = undefined
): ObjectStoreConnection => {
  const connection = staticConnection(rgw(), bucket, spec)
  return resolved === undefined ? connection : { spec: connection.spec, ...resolved }
}
