/**
 * The Cluster reconciler end to end on the sandbox: the real controller process, instance managers supervising
 * MariaDB 10.11 in Pods, replicas cloning the primary over mTLS. One 3-instance Cluster is reused by every case,
 * in order: healthy with replication and status; Services routing by role; a deleted replica Pod and a deleted
 * primary Pod recreated on their PVCs (no failover: the replicas reconnect); scaling 3 → 4 → 3.
 * docs/cluster.md ("Lifecycle") is the behaviour checked here.
 */
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import { clusterManifest, e2eLayer, e2eTimeout, type Json, OperatorSandbox } from "./harness.ts"

const name = "db"
const pod = (serial: number) => `${name}-${serial}`

const healthy = (ready: number) => (cluster: Json) =>
  cluster.status?.phase === "healthy" &&
  cluster.status?.readyInstances === ready &&
  cluster.status?.observedGeneration === cluster.metadata.generation

/** Inserts row `id` on the primary and waits until every one of `replicas` has it. */
const writeAndReplicate = (id: number, replicas: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const e2e = yield* OperatorSandbox
    const primary = yield* e2e.sql(pod(1))
    yield* primary.exec(`INSERT INTO app.notes VALUES (${id}, 'note ${id}')`)
    const expected = yield* primary.checksums
    for (const replica of replicas) {
      const sql = yield* e2e.sql(replica)
      const seen = yield* e2e.waitFor(
        `${replica} has row ${id} of the primary`,
        Effect.map(
          Effect.orElseSucceed(sql.checksums, (): Record<string, string> => ({})),
          (sums) => (sums["app.notes"] === expected["app.notes"] ? sums : undefined)
        ),
        { timeout: "90 seconds", describe: [["pods", replica]] }
      )
      assert.deepStrictEqual(seen, expected, `${replica} holds the same tables as the primary`)
    }
    return yield* primary.gtidPosition
  })

/** The names of the Pods behind a Service's ready addresses. */
const endpointPods = (service: string) =>
  Effect.gen(function* () {
    const e2e = yield* OperatorSandbox
    const endpoints = yield* e2e.get("endpoints", service)
    return (endpoints?.subsets ?? [])
      .flatMap((subset: Json) => subset.addresses ?? [])
      .map((address: Json) => address.targetRef?.name as string)
      .sort()
  })

const events = (reason: string) =>
  Effect.gen(function* () {
    const e2e = yield* OperatorSandbox
    const all = yield* e2e.list("events")
    return all
      .filter((event: Json) => event.involvedObject?.name === name && event.reason === reason)
      .map((event: Json) => event.message as string)
  })

describe("Cluster on the sandbox", () => {
  e2eLayer()((it) => {
    it.effect(
      "a 3-instance Cluster becomes healthy; a write on the primary reaches both replicas; the status is filled",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          yield* e2e.apply(clusterManifest(name, { instances: 3 }))
          const started = yield* e2e.waitForCluster(name, "healthy with 3 ready instances", healthy(3), {
            timeout: "240 seconds"
          })
          assert.strictEqual(started.status.currentPrimary, pod(1))
          assert.strictEqual(started.status.instances, 3)
          const primary = yield* e2e.sql(pod(1))
          yield* primary.exec("CREATE DATABASE app; CREATE TABLE app.notes (id INT PRIMARY KEY, body TEXT)")
          const gtid = yield* writeAndReplicate(1, [pod(2), pod(3)])
          assert.match(gtid, /^0-\d+-\d+$/u)
          // the status follows the servers: every instance ready and reporting the primary's GTID position
          const cluster = yield* e2e.waitForCluster(
            name,
            `healthy, every instance reporting executedGtid ${gtid}`,
            (c) =>
              healthy(3)(c) &&
              c.status.instanceStatuses?.length === 3 &&
              c.status.instanceStatuses.every((s: Json) => s.ready === true && s.executedGtid === gtid)
          )
          const byName = Object.fromEntries(cluster.status.instanceStatuses.map((s: Json) => [s.name, s]))
          assert.deepStrictEqual(Object.keys(byName).sort(), [pod(1), pod(2), pod(3)])
          assert.strictEqual(byName[pod(1)].role, "primary")
          for (const replica of [pod(2), pod(3)]) {
            assert.strictEqual(byName[replica].role, "replica")
            assert.strictEqual(byName[replica].lagSeconds, 0)
          }
          for (const s of cluster.status.instanceStatuses) {
            const p = yield* e2e.get("pods", s.name)
            assert.strictEqual(s.podIP, p.status.podIP)
          }
          const ready = cluster.status.conditions.find((c: Json) => c.type === "Ready")
          assert.strictEqual(ready.status, "True")
          assert.strictEqual(ready.reason, "ClusterHealthy")
          // every server has its own id, replicas are read-only
          const ids = new Set<string>()
          for (const serial of [1, 2, 3]) {
            const [row] = yield* (yield* e2e.sql(pod(serial))).query("SELECT @@server_id AS id, @@read_only AS ro")
            ids.add(row?.id ?? "")
            assert.strictEqual(row?.ro, serial === 1 ? "0" : "1", `${pod(serial)} read_only`)
          }
          assert.strictEqual(ids.size, 3)
        }),
      { timeout: e2eTimeout }
    )

    it.effect(
      "the Services route by role: -rw the primary, -ro the replicas, -r and -instances every instance",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          const routes = {
            rw: [pod(1)],
            ro: [pod(2), pod(3)],
            r: [pod(1), pod(2), pod(3)],
            instances: [pod(1), pod(2), pod(3)]
          }
          const expected = JSON.stringify(routes)
          // Endpoints follow readiness: on a busy node an instance may drop out for a probe period, so wait
          yield* e2e.waitFor(
            `the Services' endpoints are ${expected}`,
            Effect.map(
              Effect.all({
                rw: endpointPods(`${name}-rw`),
                ro: endpointPods(`${name}-ro`),
                r: endpointPods(`${name}-r`),
                instances: endpointPods(`${name}-instances`)
              }),
              (seen) => (JSON.stringify(seen) === expected ? seen : undefined)
            ),
            {
              timeout: "60 seconds",
              describe: [
                ["clusters", name],
                ["endpoints", `${name}-ro`]
              ]
            }
          )
          const roles = (yield* e2e.list("pods", `cloudnative-mysql.io/cluster=${name}`)).map((p: Json) => [
            p.metadata.name,
            p.metadata.labels["cloudnative-mysql.io/role"]
          ])
          assert.deepStrictEqual(roles.sort(), [
            [pod(1), "primary"],
            [pod(2), "replica"],
            [pod(3), "replica"]
          ])
        }),
      { timeout: e2eTimeout }
    )

    it.effect(
      "a deleted replica Pod is recreated on its PVC and resumes replication",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          const before = yield* e2e.get("pods", pod(2))
          const claim = yield* e2e.get("pvc", pod(2))
          yield* e2e.remove("pods", pod(2))
          const recreated = yield* e2e.waitFor(
            `${pod(2)} recreated and ready`,
            Effect.map(e2e.get("pods", pod(2)), (p) =>
              p !== undefined &&
              p.metadata.uid !== before.metadata.uid &&
              (p.status?.conditions ?? []).some((c: Json) => c.type === "Ready" && c.status === "True")
                ? p
                : undefined
            ),
            {
              timeout: "180 seconds",
              describe: [
                ["clusters", name],
                ["pods", pod(2)]
              ]
            }
          )
          const volume = recreated.spec.volumes.find((v: Json) => v.persistentVolumeClaim !== undefined)
          assert.strictEqual(volume.persistentVolumeClaim.claimName, pod(2))
          const claimAfter = yield* e2e.get("pvc", pod(2))
          assert.strictEqual(claimAfter.metadata.uid, claim.metadata.uid, "the same claim, not a new one")
          assert.include(yield* events("InstanceCreated"), `created replica ${pod(2)} (on its existing volume)`)
          yield* writeAndReplicate(2, [pod(2), pod(3)])
          yield* e2e.waitForCluster(name, "healthy again", healthy(3))
        }),
      { timeout: e2eTimeout }
    )

    it.effect(
      "a deleted primary Pod is recreated on its PVC (no failover) and the replicas reconnect",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          const before = yield* e2e.get("pods", pod(1))
          yield* e2e.remove("pods", pod(1))
          yield* e2e.waitFor(
            `${pod(1)} recreated and ready`,
            Effect.map(e2e.get("pods", pod(1)), (p) =>
              p !== undefined &&
              p.metadata.uid !== before.metadata.uid &&
              (p.status?.conditions ?? []).some((c: Json) => c.type === "Ready" && c.status === "True")
                ? p
                : undefined
            ),
            {
              timeout: "180 seconds",
              describe: [
                ["clusters", name],
                ["pods", pod(1)]
              ]
            }
          )
          assert.include(yield* events("InstanceCreated"), `created primary ${pod(1)} (on its existing volume)`)
          const cluster = yield* e2e.waitForCluster(name, "healthy again", healthy(3))
          assert.strictEqual(cluster.status.currentPrimary, pod(1), "no failover: the same instance is primary")
          // the data survived the restart and the replicas follow the restarted primary
          const rows = yield* (yield* e2e.sql(pod(1))).query("SELECT COUNT(*) AS n FROM app.notes")
          assert.strictEqual(rows[0]?.n, "2")
          yield* writeAndReplicate(3, [pod(2), pod(3)])
        }),
      { timeout: e2eTimeout }
    )

    it.effect(
      "scaling 3 → 4 adds a replica that clones the primary; 4 → 3 removes the highest-numbered replica and its PVC",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          yield* e2e.kubectlOk(["patch", "cluster", name, "--type=merge", "-p", '{"spec":{"instances":4}}'])
          const grown = yield* e2e.waitForCluster(name, "healthy with 4 ready instances", healthy(4), {
            timeout: "240 seconds"
          })
          assert.strictEqual(grown.status.latestInstance, 4)
          assert.include(yield* events("InstanceCreated"), `created replica ${pod(4)} (cloning ${pod(1)})`)
          yield* writeAndReplicate(4, [pod(2), pod(3), pod(4)])
          assert.deepStrictEqual(yield* endpointPods(`${name}-ro`), [pod(2), pod(3), pod(4)])

          yield* e2e.kubectlOk(["patch", "cluster", name, "--type=merge", "-p", '{"spec":{"instances":3}}'])
          yield* e2e.waitFor(
            `${pod(4)} and its PVC removed`,
            Effect.map(Effect.all([e2e.get("pods", pod(4)), e2e.get("pvc", pod(4))]), ([p, claim]) =>
              p === undefined && claim === undefined ? true : undefined
            ),
            { timeout: "120 seconds", describe: [["clusters", name]] }
          )
          const shrunk = yield* e2e.waitForCluster(name, "healthy with 3 ready instances", healthy(3))
          assert.deepStrictEqual(shrunk.status.instanceStatuses.map((s: Json) => s.name).sort(), [
            pod(1),
            pod(2),
            pod(3)
          ])
          assert.include(yield* events("InstanceRemoved"), `scaled down: removed replica ${pod(4)} and its volume`)
          assert.isDefined(yield* e2e.get("pvc", pod(3)), "the other replicas keep their volumes")
        }),
      { timeout: e2eTimeout }
    )
  })
})
