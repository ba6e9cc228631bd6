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
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3"
import { Redacted } from "effect"
import { inject } from "vitest"
import type { ObjectStore } from "../../../src/api/objectStore.ts"
import type { ObjectStoreConnection } from "../../../src/objectstore/connection.ts"

/** Where the test RGW listens and how to authenticate. */
export interface RgwEndpoints {
  readonly endpoint: string
  readonly tlsEndpoint: string
  /** PEM file of the CA that signed the https endpoint's certificate. */
  readonly caFile: string
  readonly accessKey: string
  readonly secretKey: string
  readonly region: string
  /** The key id of the testing SSE-KMS backend. */
  readonly kmsKeyId: string
}

/** What globalSetup provides: the state directory RGW runs (or will run) in, or why it cannot run. */
export type RgwProvided =
  | { readonly available: true; readonly stateDir: string }
  | { readonly available: false; readonly reason: string }

declare module "vitest" {
  export interface ProvidedContext {
    rgw: RgwProvided
  }
}

/** The install command named in every "RGW missing" failure. */
export const rgwInstallHint =
  "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw curl openssl uuid-runtime"

const scripts = import.meta.dirname
const run = promisify(execFile)

/** Parse `STATE_DIR/env` as written by start.sh. */
export const readRgwEnv = (stateDir: string): RgwEndpoints => {
  const file = join(stateDir, "env")
  const env = new Map(
    readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const)
  )
  const need = (name: string): string => {
    const value = env.get(name)
    if (value === undefined || value === "") throw new Error(`${file} has no ${name}`)
    return value
  }
  return {
    endpoint: need("S3_ENDPOINT"),
    tlsEndpoint: need("S3_TLS_ENDPOINT"),
    caFile: need("S3_CA_FILE"),
    accessKey: need("S3_ACCESS_KEY"),
    secretKey: need("S3_SECRET_KEY"),
    region: need("S3_REGION"),
    kmsKeyId: need("S3_KMS_KEY_ID")
  }
}

/** Run start.sh in `stateDir` unless it already ran; only one caller at a time (mkdir is atomic). */
export const ensureRgwStarted = async (stateDir: string): Promise<RgwEndpoints> => {
  const lock = `${stateDir}.lock`
  const failed = join(stateDir, "start-failed")
  const deadline = Date.now() + 180_000
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  try {
    if (existsSync(failed)) throw new Error(readFileSync(failed, "utf8"))
    if (!existsSync(join(stateDir, "env"))) {
      try {
        await run(join(scripts, "start.sh"), [stateDir], { timeout: 150_000 })
      } catch (error) {
        const e = error as { stdout?: string; stderr?: string; message: string }
        const message = `RGW failed to start (logs in ${stateDir}/log): ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`
        writeFileSync(failed, message)
        throw new Error(message)
      }
    }
    return readRgwEnv(stateDir)
  } finally {
    rmdirSync(lock)
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
  started = await ensureRgwStarted(provided.stateDir)
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

/** Create a bucket on the test RGW (starting it if needed), with the SDK directly. */
export const createBucket = async (name: string): Promise<void> => {
  const r = await startRgw()
  const client = new S3Client({
    endpoint: r.endpoint,
    region: r.region,
    forcePathStyle: true,
    credentials: { accessKeyId: r.accessKey, secretAccessKey: r.secretKey }
  })
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }))
  } finally {
    client.destroy()
  }
}

/** A connection to the test RGW over http with SigV4 and path style; `spec` overrides the defaults. */
export const rgwConnection = (
  bucket: string,
  spec: Partial<ObjectStore> = {},
  resolved: Omit<ObjectStoreConnection, "spec"> | undefined = undefined
): ObjectStoreConnection => {
  const r = rgw()
  return {
    spec: {
      bucket,
      endpoint: r.endpoint,
      region: r.region,
      forcePathStyle: true,
      credentials: {
        accessKeyId: { name: "s3", key: "accessKeyId" },
        secretAccessKey: { name: "s3", key: "secretAccessKey" }
      },
      ...spec
    },
    ...(resolved ?? {
      credentials: { accessKeyId: Redacted.make(r.accessKey), secretAccessKey: Redacted.make(r.secretKey) }
    })
  }
}
