/**
 * A loopback S3 server as the demo, the benchmarks and the tests address it: static keys, path-style
 * addressing. One place builds the `ObjectStoreConnection` and creates buckets for all of them.
 *
 * @since 0.1.0
 */
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3"
import { Redacted } from "effect"
import type { ObjectStore } from "../api/objectStore.ts"
import type { ObjectStoreConnection } from "../objectstore/connection.ts"

/** Where a loopback S3 server listens and the static keys it accepts. */
export interface S3Endpoint {
  readonly endpoint: string
  readonly region: string
  readonly accessKey: string
  readonly secretKey: string
}

/** A SigV4, path-style connection to `bucket` with static keys; `spec` overrides any field of the spec. */
export const staticConnection = (
  server: S3Endpoint,
  bucket: string,
  spec: Partial<ObjectStore> = {}
): ObjectStoreConnection => ({
  spec: {
    bucket,
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: {
      accessKeyId: { name: "s3", key: "accessKeyId" },
      secretAccessKey: { name: "s3", key: "secretAccessKey" }
    },
    ...spec
  },
  credentials: { accessKeyId: Redacted.make(server.accessKey), secretAccessKey: Redacted.make(server.secretKey) }
})

/** Creates `bucket` with the SDK directly (setup, not the code under test). */
export const createBucket = async (server: S3Endpoint, bucket: string): Promise<void> => {
  const client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey }
  })
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
  } finally {
    client.destroy()
  }
}
