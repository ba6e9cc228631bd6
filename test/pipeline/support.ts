/** Helpers shared by the pipeline tests. */
import { createHash } from "node:crypto"
import { Schema, Stream } from "effect"
import { BackupId } from "../../src/api/backupId.ts"
import type { BackupMetadata } from "../../src/objectstore/metadata.ts"

export const Byte = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 255 }))
export const Cut = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5000 }))

/** Splits `input` at arbitrary positions (empty chunks included). */
export const splitAt = (input: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...cuts.map((c) => c % (input.length + 1)), input.length].sort((a, b) => a - b)
  let start = 0
  return points.map((end) => {
    const chunk = input.slice(start, end)
    start = end
    return chunk
  })
}

/** One chunk per stream batch, so the tee's capacity counts exactly these chunks. */
export const streamOf = (chunks: ReadonlyArray<Uint8Array>): Stream.Stream<Uint8Array> =>
  Stream.fromIterable(chunks, { chunkSize: 1 })

export const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

/** Deterministic pseudo-random bytes (xorshift), cheap enough for megabytes. */
export const pseudoRandomBytes = (size: number, seed = 1): Uint8Array => {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** metadata.json content for an archive at `archiveKey`. */
export const sampleMetadata = (
  backupId: string,
  archive: { readonly key: string; readonly size: number; readonly sha256: string }
): BackupMetadata => ({
  version: 1,
  cluster: { name: "cluster-sample", namespace: "db" },
  backup: { name: "backup-sample", namespace: "db" },
  backupId: BackupId.make(backupId),
  sourceInstance: "cluster-sample-1",
  method: "xtrabackup",
  flavor: "mariadb",
  tool: { name: "mariabackup", version: "10.11" },
  archive: { ...archive, partSize: 16, parts: 1 },
  startedAt: "2026-11-23T20:46:44Z",
  stoppedAt: "2026-11-23T20:47:59Z"
})
