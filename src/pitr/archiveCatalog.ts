/**
 * What the binlog archive holds, as recovery sees it: every manifest under an archive prefix, in every series.
 * Files without a manifest are not listed (an interrupted upload is not archived), and a manifest that does not
 * decode is an error rather than a silently shorter archive, which would turn into a wrong `ArchiveGap`.
 *
 * @since 0.2.0
 */
import { Effect, Option, Stream } from "effect"
import { decodeBinlogManifest } from "../api/binlogArchive.ts"
import { InvalidConfiguration } from "../api/failures.ts"
import { parseBinlogKey } from "../objectstore/binlogLayout.ts"
import { ObjectStoreClient } from "../objectstore/ObjectStoreClient.ts"

/** Every archived file's manifest under `archivePrefix`. */
export const archivedManifests = Effect.fn("pitr.archivedManifests")(function* (archivePrefix: string) {
  const client = yield* ObjectStoreClient
  const entries = yield* Stream.runCollect(client.listObjects(archivePrefix))
  const keys = entries.flatMap((entry) =>
    "key" in entry
      ? Option.toArray(parseBinlogKey(archivePrefix, entry.key)).flatMap((parsed) =>
          parsed.kind === "manifest" ? [entry.key] : []
        )
      : []
  )
  return yield* Effect.forEach(
    keys,
    (key) =>
      client.getObject(key).pipe(
        Stream.decodeText(),
        Stream.mkString,
        Effect.flatMap(decodeBinlogManifest),
        Effect.mapError((e) =>
          e._tag === "SchemaError" ? new InvalidConfiguration({ detail: `binlog manifest ${key}: ${e.message}` }) : e
        )
      ),
    { concurrency: 8 }
  )
})
