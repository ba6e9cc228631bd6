/**
 * The restore's data-directory discipline: nothing a server could start on appears in the data directory
 * until the backup is extracted, verified, prepared and copied back completely.
 *
 * - Before anything is downloaded, the data directory must be absent, empty, or hold only `lost+found`
 *   (a fresh ext4 volume); anything else is refused, so a restore never mixes with or destroys data.
 * - `--copy-back` writes into a **staging** directory, a sibling of the data directory (same filesystem),
 *   never into the data directory itself.
 * - `install` then moves the staging directory into place: one `rename` when the data directory is absent
 *   or empty (it is removed first); when it holds `lost+found` (it is then usually a mount point, which
 *   cannot be renamed over) each entry is renamed into it, and if any rename fails the entries already
 *   moved are removed again.
 * - `clear` empties the data directory back to its original state (only `lost+found` stays) when a later
 *   step fails after install.
 * - `syncDataDir` flushes the file system that holds it (`sync --file-system`, syncfs(2)) before the restore
 *   reports success: neither `--copy-back` nor the renames nor the private server's replay fsync what they
 *   write, and a node that loses power after "restore completed" must not come back with less.
 *
 * @since 0.1.0
 */
import { mkdir, mkdtemp, readdir, rename, rm, rmdir } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { Effect } from "effect"
import { RestoreCopyBackFailed } from "../api/failures.ts"
import { describeTail, runTool } from "./tool.ts"

/** The entry a fresh ext4 volume has; allowed in an otherwise empty data directory. */
export const LostAndFound = "lost+found"

/** Whether `dataDir` holds nothing but a volume's `lost+found` (a missing or unreadable directory counts as empty). */
export const isEmptyDataDir = (dataDir: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    readdir(dataDir).then(
      (entries) => entries.every((entry) => entry === LostAndFound),
      () => true
    )
  )

/** What the data directory looks like before a restore. */
export type DataDirState = "absent" | "empty" | "lostAndFoundOnly"

const failed = (dataDir: string, detail: string) => new RestoreCopyBackFailed({ dataDir, detail })

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Entries of a directory, or `undefined` when it does not exist. */
const entriesOf = (dir: string): Effect.Effect<ReadonlyArray<string> | undefined, RestoreCopyBackFailed> =>
  Effect.tryPromise({
    try: () =>
      readdir(dir).catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return undefined
        throw error
      }),
    catch: (error) => failed(dir, `cannot read the data directory: ${errorText(error)}`)
  })

/** Refuses a data directory that holds anything but `lost+found`. */
export const checkDataDir = Effect.fn("recovery.checkDataDir")(function* (dataDir: string) {
  const entries = yield* entriesOf(dataDir)
  if (entries === undefined) return "absent" as DataDirState
  const others = entries.filter((e) => e !== LostAndFound)
  if (others.length > 0) {
    const shown = others.slice(0, 5).join(", ")
    return yield* failed(
      dataDir,
      `the data directory is not empty (${shown}${others.length > 5 ? ", …" : ""}); refusing to restore over existing data`
    )
  }
  return (entries.length === 0 ? "empty" : "lostAndFoundOnly") as DataDirState
})

/** A fresh, empty staging directory next to the data directory (same filesystem, so `rename` is atomic). */
export const makeStagingDir = Effect.fn("recovery.makeStagingDir")(function* (dataDir: string) {
  const parent = dirname(dataDir)
  return yield* Effect.tryPromise({
    try: async () => {
      await mkdir(parent, { recursive: true })
      return await mkdtemp(join(parent, `.${basename(dataDir)}.restoring-`))
    },
    catch: (error) => failed(dataDir, `cannot create the staging directory in ${parent}: ${errorText(error)}`)
  })
})

/** Moves the complete staging directory into the data directory (see the module comment). */
export const install = Effect.fn("recovery.install")(function* (staging: string, dataDir: string) {
  const state = yield* checkDataDir(dataDir)
  if (state !== "lostAndFoundOnly") {
    yield* Effect.tryPromise({
      try: async () => {
        if (state === "empty") await rmdir(dataDir)
        await rename(staging, dataDir)
      },
      catch: (error) => failed(dataDir, `moving the restored files into place failed: ${errorText(error)}`)
    })
    return
  }
  const entries = yield* Effect.tryPromise({
    try: () => readdir(staging),
    catch: (error) => failed(dataDir, `cannot read the staging directory: ${errorText(error)}`)
  })
  const moved: Array<string> = []
  yield* Effect.tryPromise({
    try: async () => {
      for (const entry of entries) {
        await rename(join(staging, entry), join(dataDir, entry))
        moved.push(entry)
      }
      await rmdir(staging)
    },
    catch: (error) => failed(dataDir, `moving the restored files into place failed: ${errorText(error)}`)
  }).pipe(
    Effect.tapError(() =>
      Effect.promise(() =>
        Promise.all(moved.map((entry) => rm(join(dataDir, entry), { recursive: true, force: true })))
      )
    )
  )
})

/** Flushes the file system that holds `dataDir` to stable storage (see the module comment). */
export const syncDataDir = Effect.fn("recovery.syncDataDir")(function* (dataDir: string) {
  const synced = yield* runTool("sync", ["--file-system", dataDir])
  if (synced.exitCode !== 0)
    return yield* failed(dataDir, `flushing the restored files to disk failed: ${describeTail(synced)}`)
})

/** Removes everything the restore put into the data directory (all but `lost+found`, which it never adds). */
export const clear = Effect.fn("recovery.clear")(function* (dataDir: string) {
  yield* Effect.tryPromise({
    try: async () => {
      const entries = await readdir(dataDir).catch(() => [] as Array<string>)
      await Promise.all(
        entries.filter((e) => e !== LostAndFound).map((e) => rm(join(dataDir, e), { recursive: true, force: true }))
      )
    },
    catch: (error) => failed(dataDir, `clearing the data directory after a failed restore failed: ${errorText(error)}`)
  })
})

/** Removes a scratch or staging directory; never fails (a leftover temp dir must not mask the real outcome). */
export const removeDir = (dir: string): Effect.Effect<void> =>
  Effect.promise(() => rm(dir, { recursive: true, force: true }).catch(() => undefined))
