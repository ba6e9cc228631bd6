/**
 * `kubectl cloudnative-mysql …` (the executable `kubectl-cloudnative_mysql` on PATH, krew naming): the user's
 * commands for backups.
 *
 * - `backup CLUSTER [--name N] [--method xtrabackup] [--target prefer-standby|primary] [--online|--offline]
 *   [--wait]` creates a Backup (named `<cluster>-<YYYYMMDDHHMMSS>`, UTC, unless `--name`); `--wait` shows the
 *   live progress from `status.progress` and exits 0 on `completed`, 1 with the reason and message on `failed`;
 * - `backup list [CLUSTER]`, `backup describe NAME` (status, conditions, Events, object keys);
 * - `status CLUSTER`: instances with role, readiness, GTID and lag; continuous archiving (the condition, the last
 *   archived file, the recoverability window); the last successful and failed Backup; the ScheduledBackups.
 *
 * Kubernetes access as kubectl: `--kubeconfig` (else `KUBECONFIG`, else `~/.kube/config`, else in-cluster),
 * `--context`, `-n/--namespace` (else the context's namespace, else `default`); `-o json|yaml` on list, describe
 * and status. Exit codes: 0 success, 1 a failed Backup or an API error, 2 usage errors.
 *
 * @since 0.1.0
 */

import { NodeServices } from "@effect/platform-node"
import type { KubeConfig } from "@kubernetes/client-node"
import { Cause, Clock, Console, Data, Effect, Exit, Option } from "effect"
import { Argument, CliError, Command, Flag } from "effect/cli"
import { stringify } from "yaml"
import type { Backup } from "../api/backup.ts"
import type { ClusterStatus } from "../api/cluster.ts"
import type { Condition } from "../api/common.ts"
import { slotSuffix } from "../controller/scheduledBackup/decide.ts"
import { makeClientNodeRaw } from "../kube/clientNode.ts"
import { KubeConfigMissing } from "../kube/errors.ts"
import { fromRaw, type KubeApiService } from "../kube/KubeApi.ts"
import { loadKubeConfig } from "../kube/kubeConfig.ts"
import { Resources } from "../kube/resources.ts"
import { age, between, bytes, progressLine, table } from "./format.ts"

/** A Backup ended `failed` while `--wait`ed for (exit code 1). */
class BackupFailed extends Error {
  readonly _tag = "BackupFailed"
}

const root = Command.make("kubectl-cloudnative_mysql").pipe(
  Command.withDescription("Backups of cloudnative-mysql Clusters (kubectl cloudnative-mysql …)"),
  Command.withSharedFlags({
    kubeconfig: Flag.String("kubeconfig").pipe(Flag.withDescription("path to the kubeconfig file"), Flag.optional),
    context: Flag.String("context").pipe(Flag.withDescription("the kubeconfig context to use"), Flag.optional),
    namespace: Flag.String("namespace").pipe(
      Flag.withAlias("n"),
      Flag.withDescription("the namespace (default: the context's, else default)"),
      Flag.optional
    )
  })
)

const output = Flag.Literals("output", ["json", "yaml"]).pipe(
  Flag.withAlias("o"),
  Flag.withDescription("print the objects as json or yaml instead of a table"),
  Flag.optional
)

interface Session {
  readonly api: KubeApiService
  readonly namespace: string
}

/** The API and namespace the shared flags select. */
const session = Effect.gen(function* () {
  const flags = yield* root
  const kubeconfig = Option.getOrUndefined(flags.kubeconfig)
  const kc: KubeConfig = yield* loadKubeConfig(
    kubeconfig === undefined ? {} : { env: { ...process.env, KUBECONFIG: kubeconfig } }
  )
  const context = Option.getOrUndefined(flags.context)
  if (context !== undefined) {
    if (kc.getContextObject(context) === null) {
      return yield* new KubeConfigMissing({ detail: `context "${context}" is not in the kubeconfig` })
    }
    kc.setCurrentContext(context)
  }
  const namespace =
    Option.getOrUndefined(flags.namespace) ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default"
  return { api: fromRaw(makeClientNodeRaw(kc)), namespace } satisfies Session
})

const print = (format: Option.Option<"json" | "yaml">, value: unknown) =>
  Console.log(
    Option.getOrUndefined(format) === "yaml"
      ? stringify(value, { aliasDuplicateObjects: false }).trimEnd()
      : JSON.stringify(value, null, 2)
  )

const reasonOf = (backup: Backup) => backup.status?.conditions?.find((c) => c.type === "Completed")

/** Polls the Backup until it is terminal, printing progress; fails with `BackupFailed` when it failed. */
const waitFor = (s: Session, name: string) =>
  Effect.gen(function* () {
    const tty = process.stdout.isTTY === true
    let last = ""
    while (true) {
      const backup = yield* s.api.get(Resources.backups, { namespace: s.namespace, name })
      const phase = backup.status?.phase ?? "pending"
      const progress = backup.status?.progress
      const line =
        phase === "running" && progress !== undefined
          ? progressLine(progress)
          : `${phase}${reasonOf(backup)?.reason === undefined ? "" : ` (${reasonOf(backup)?.reason})`}`
      if (line !== last) {
        yield* Effect.sync(() => process.stdout.write(tty ? `\r\x1b[2K${line}` : `${line}\n`))
        last = line
      }
      if (phase === "completed") {
        if (tty) yield* Effect.sync(() => process.stdout.write("\n"))
        yield* Console.log(
          `backup ${name} completed: id ${backup.status?.backupId ?? ""}, ${bytes(backup.status?.size ?? 0)}, sha256 ${backup.status?.sha256 ?? ""}, from ${backup.status?.instanceName ?? ""}`
        )
        return
      }
      if (phase === "failed") {
        if (tty) yield* Effect.sync(() => process.stdout.write("\n"))
        const condition = reasonOf(backup)
        return yield* Effect.fail(
          new BackupFailed(
            `backup ${name} failed: ${condition?.reason ?? "Failed"}: ${condition?.message ?? backup.status?.error ?? ""}`
          )
        )
      }
      yield* Effect.sleep("1 second")
    }
  })

const list = Command.make(
  "list",
  {
    cluster: Argument.String("cluster").pipe(
      Argument.withDescription("only this Cluster's Backups"),
      Argument.optional
    ),
    output
  },
  ({ cluster, output: format }) =>
    Effect.gen(function* () {
      const s = yield* session
      const all = (yield* s.api.list(Resources.backups, { namespace: s.namespace })).items
      const backups = all
        .filter((b) => Option.isNone(cluster) || b.spec.cluster.name === cluster.value)
        .sort((a, b) => (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? ""))
      if (Option.isSome(format)) return yield* print(format, { apiVersion: "v1", kind: "List", items: backups })
      if (backups.length === 0) return yield* Console.log(`No Backups found in ${s.namespace} namespace.`)
      const now = yield* Clock.currentTimeMillis
      yield* Console.log(
        table(
          ["name", "cluster", "phase", "id", "size", "duration", "source", "age"],
          backups.map((b) => [
            b.metadata.name ?? "",
            b.spec.cluster.name,
            b.status?.phase ?? "",
            b.status?.backupId ?? "",
            b.status?.size === undefined ? "" : bytes(b.status.size),
            between(b.status?.startedAt, b.status?.stoppedAt),
            b.status?.instanceName ?? "",
            age(b.metadata.creationTimestamp, now)
          ])
        )
      )
    })
).pipe(Command.withDescription("List Backups (of one Cluster)"))

const conditionRows = (conditions: ReadonlyArray<Condition> | undefined) =>
  (conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message])

const describe = Command.make(
  "describe",
  { name: Argument.String("name").pipe(Argument.withDescription("the Backup")), output },
  ({ name, output: format }) =>
    Effect.gen(function* () {
      const s = yield* session
      const backup = yield* s.api.get(Resources.backups, { namespace: s.namespace, name })
      const events = (yield* s.api.list(Resources.events, { namespace: s.namespace })).items
        .filter((e) => e.involvedObject.kind === "Backup" && e.involvedObject.name === name)
        .sort((a, b) => (a.lastTimestamp ?? "").localeCompare(b.lastTimestamp ?? ""))
      if (Option.isSome(format)) return yield* print(format, { backup, events })
      const now = yield* Clock.currentTimeMillis
      const st = backup.status ?? {}
      const field = (label: string, value: string | number | undefined) =>
        value === undefined || value === "" ? [] : [`${`${label}:`.padEnd(18)}${value}`]
      yield* Console.log(
        [
          ...field("Name", name),
          ...field("Namespace", s.namespace),
          ...field("Cluster", backup.spec.cluster.name),
          ...field("Method", backup.spec.method),
          ...field("Target", backup.spec.target),
          ...field("Phase", st.phase ?? "pending"),
          ...field("Backup ID", st.backupId),
          ...field("Source", st.instanceName),
          ...field("Job", st.jobName),
          ...field("Destination", st.destinationPath),
          ...field("Archive key", st.archiveKey),
          ...field("Metadata key", st.metadataKey),
          ...field("Size", st.size === undefined ? undefined : `${bytes(st.size)} (${st.size} bytes)`),
          ...field("SHA256", st.sha256),
          ...field("Begin GTID", st.beginGTID),
          ...field("End GTID", st.endGTID),
          ...field("Begin binlog", st.beginBinlog),
          ...field("End binlog", st.endBinlog),
          ...field("Started", st.startedAt),
          ...field("Stopped", st.stoppedAt),
          ...field("Error", st.error),
          ...field("Progress", st.progress === undefined ? undefined : progressLine(st.progress)),
          "Conditions:",
          indentedTable(["type", "status", "reason", "message"], conditionRows(st.conditions)),
          "Events:",
          indentedTable(
            ["type", "reason", "age", "from", "message"],
            events.map((e) => [
              e.type ?? "",
              e.reason ?? "",
              `${age(e.lastTimestamp ?? undefined, now)}${(e.count ?? 1) > 1 ? ` (x${e.count})` : ""}`,
              e.source?.component ?? "",
              e.message ?? ""
            ])
          )
        ].join("\n")
      )
    })
).pipe(Command.withDescription("Show a Backup: status, conditions, Events, object keys"))

const indent = (text: string) =>
  text
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n")

/** A section's table under its heading, indented; `empty` when it has no rows. */
const indentedTable = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  empty = "  <none>"
): string => (rows.length === 0 ? empty : indent(table(headers, rows)))

const backup = Command.make(
  "backup",
  {
    cluster: Argument.String("cluster").pipe(Argument.withDescription("the Cluster to back up"), Argument.optional),
    name: Flag.String("name").pipe(
      Flag.withDescription("the Backup's name (default <cluster>-<YYYYMMDDHHMMSS>)"),
      Flag.optional
    ),
    method: Flag.Literals("method", ["xtrabackup"]).pipe(Flag.withDefault("xtrabackup" as const)),
    target: Flag.Literals("target", ["prefer-standby", "primary"]).pipe(
      Flag.withDescription("prefer-standby: a healthy replica, else the primary; primary: the current primary"),
      Flag.withDefault("prefer-standby" as const)
    ),
    online: Flag.Boolean("online").pipe(Flag.withDescription("hot backup (the default)"), Flag.withDefault(false)),
    offline: Flag.Boolean("offline").pipe(Flag.withDescription("offline backup"), Flag.withDefault(false)),
    wait: Flag.Boolean("wait").pipe(
      Flag.withDescription("wait for the Backup to finish, showing its progress"),
      Flag.withDefault(false)
    )
  },
  (options) =>
    Effect.gen(function* () {
      if (Option.isNone(options.cluster)) {
        return yield* Effect.fail(
          new UsageError({ message: "backup needs a CLUSTER (or a subcommand: list, describe); see --help" })
        )
      }
      if (options.online && options.offline)
        return yield* Effect.fail(new UsageError({ message: "--online and --offline exclude each other" }))
      const s = yield* session
      const cluster = options.cluster.value
      const name = Option.getOrUndefined(options.name) ?? `${cluster}-${slotSuffix(yield* Clock.currentTimeMillis)}`
      yield* s.api.create(Resources.backups, {
        apiVersion: "mysql.cloudnative-mysql.io/v1alpha1",
        kind: "Backup",
        metadata: { namespace: s.namespace, name },
        spec: { cluster: { name: cluster }, method: options.method, target: options.target, online: !options.offline }
      })
      yield* Console.log(`backup.mysql.cloudnative-mysql.io/${name} created`)
      if (options.wait) yield* waitFor(s, name)
    })
).pipe(
  Command.withDescription("Create a Backup of CLUSTER (or list/describe Backups)"),
  Command.withSubcommands([list, describe])
)

/** Continuous archiving and the recoverability window, as the Cluster's status records them. */
const archivingLines = (st: ClusterStatus): ReadonlyArray<string> => {
  const condition = st.conditions?.find((c) => c.type === "ContinuousArchiving")
  if (condition === undefined) return []
  const archive = st.binlogArchive
  const window = st.recoverabilityWindow
  return [
    `Continuous archiving: ${condition.status} (${condition.reason}): ${condition.message}`,
    `Last archived:    ${
      archive?.lastArchivedFile === undefined
        ? "<none>"
        : `${archive.lastArchivedFile}, GTID ${archive.lastArchivedGTID || "''"}, ${archive.lastArchivedTime ?? ""}${
            archive.caughtUp === undefined ? "" : archive.caughtUp ? " (caught up)" : " (primary ahead)"
          }`
    }`,
    `Recoverable:      ${
      window === undefined
        ? "<nothing>"
        : `from ${window.firstRecoverableGTID || "''"} (${window.firstRecoverableTime}, backup ${window.baseBackup}) to ${window.lastRecoverableGTID || "''"} (${window.lastRecoverableTime})`
    }`
  ]
}

const status = Command.make(
  "status",
  { cluster: Argument.String("cluster").pipe(Argument.withDescription("the Cluster")), output },
  ({ cluster, output: format }) =>
    Effect.gen(function* () {
      const s = yield* session
      const object = yield* s.api.get(Resources.clusters, { namespace: s.namespace, name: cluster })
      const backups = (yield* s.api.list(Resources.backups, { namespace: s.namespace })).items.filter(
        (b) => b.spec.cluster.name === cluster
      )
      const schedules = (yield* s.api.list(Resources.scheduledBackups, { namespace: s.namespace })).items.filter(
        (b) => b.spec.cluster.name === cluster
      )
      const latest = (phase: string) =>
        backups
          .filter((b) => b.status?.phase === phase)
          .sort((a, b) =>
            (b.status?.stoppedAt ?? b.metadata.creationTimestamp ?? "").localeCompare(
              a.status?.stoppedAt ?? a.metadata.creationTimestamp ?? ""
            )
          )[0]
      const lastCompleted = latest("completed")
      const lastFailed = latest("failed")
      if (Option.isSome(format)) {
        return yield* print(format, {
          cluster: object,
          lastCompletedBackup: lastCompleted ?? null,
          lastFailedBackup: lastFailed ?? null,
          scheduledBackups: schedules
        })
      }
      const now = yield* Clock.currentTimeMillis
      const st = object.status ?? {}
      const instances = st.instanceStatuses ?? []
      const describeBackup = (b: Backup | undefined) =>
        b === undefined
          ? "<none>"
          : `${b.metadata.name ?? ""} (id ${b.status?.backupId ?? ""}, ${b.status?.size === undefined ? "" : `${bytes(b.status.size)}, `}${age(b.status?.stoppedAt ?? b.metadata.creationTimestamp, now)} ago${b.status?.phase === "failed" ? `: ${reasonOf(b)?.reason ?? ""}` : ""})`
      yield* Console.log(
        [
          `Cluster:          ${cluster}`,
          `Phase:            ${st.phase ?? "<unknown>"}`,
          `Image:            ${object.spec.imageName}`,
          `Primary:          ${st.currentPrimary ?? "<none>"}`,
          `Ready instances:  ${st.readyInstances ?? instances.filter((i) => i.ready).length}/${object.spec.instances}`,
          "Instances:",
          indentedTable(
            ["name", "role", "ready", "lag", "pod ip", "executed gtid"],
            instances.map((i) => [
              i.name,
              i.role,
              i.ready ? "true" : "false",
              i.lagSeconds === undefined ? "" : `${i.lagSeconds}s`,
              i.podIP ?? "",
              i.executedGtid ?? ""
            ]),
            "  <none reported>"
          ),
          ...archivingLines(st),
          `Last completed backup: ${describeBackup(lastCompleted)}`,
          `Last failed backup:    ${describeBackup(lastFailed)}`,
          "Scheduled backups:",
          indentedTable(
            ["name", "schedule", "suspended", "last backup", "next run"],
            schedules.map((b) => [
              b.metadata.name ?? "",
              `${b.spec.schedule}${b.spec.timeZone === undefined ? "" : ` (${b.spec.timeZone})`}`,
              b.spec.suspend ? "true" : "false",
              b.status?.lastBackupName ?? "",
              b.status?.nextScheduleTime ?? ""
            ])
          )
        ].join("\n")
      )
    })
).pipe(
  Command.withDescription(
    "Show a Cluster's instances, continuous archiving, recoverability window, last backups and schedules"
  )
)

/** A command used wrongly (exit code 2). */
class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

const app = root.pipe(Command.withSubcommands([backup, status]))

/** Runs the plugin with `argv`; resolves with the exit code. */
export const pluginMain = (argv: ReadonlyArray<string>): Promise<number> =>
  Effect.runPromiseExit(Command.runWith(app, { version: "0.1.0" })(argv).pipe(Effect.provide(NodeServices.layer))).then(
    (exit) => {
      if (Exit.isSuccess(exit)) return 0
      const error = Cause.findErrorOption(exit.cause)
      const failure = Option.getOrUndefined(error)
      if (failure instanceof UsageError) {
        process.stderr.write(`error: ${failure.message}\n`)
        return 2
      }
      if (CliError.isCliError(failure) && failure._tag === "ShowHelp") return 2
      const message = failure instanceof Error ? failure.message : Cause.pretty(exit.cause)
      process.stderr.write(`error: ${message}\n`)
      return 1
    }
  )
