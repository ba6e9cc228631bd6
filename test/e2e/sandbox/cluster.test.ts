/**
 * The Cluster reconciler end to end on the sandbox: the real controller process, instance managers supervising
 * MariaDB 10.11 in Pods, replicas cloning the primary over mTLS. One 3-instance Cluster is reused by every case
 * (in order): healthy with replication and status, Services routing by role, a deleted replica Pod and a deleted
 * primary Pod recreated on their PVCs, scaling 3 → 4 → 3. docs/cluster.md describes what is checked here.
 */
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import { clusterManifest, e2eLayer, e2eTimeout, type Json, OperatorSandbox } from "./harness.ts"

const name = "db"

describe("Cluster on the sandbox", () => {
  e2eLayer()((it) => {
    it.effect(
      "a 3-instance Cluster becomes healthy; a write on the primary reaches both replicas; the status is filled",
      () =>
        Effect.gen(function* () {
          const e2e = yield* OperatorSandbox
          yield* e2e.apply(clusterManifest(name, { instances: 3 }))
          const cluster: Json = yield* e2e.waitForCluster(
            name,
            "healthy with 3 ready instances",
            (c) => c.status?.phase === "healthy" && c.status?.readyInstances === 3,
            { timeout: "240 seconds" }
          )
          assert.strictEqual(cluster.status.currentPrimary, `${name}-1`)
          const primary = yield* e2e.sql(`${name}-1`)
          yield* primary.exec(
            "CREATE DATABASE app; CREATE TABLE app.notes (id INT PRIMARY KEY, body TEXT); INSERT INTO app.notes VALUES (1, 'hello'), (2, 'world');"
          )
          const expected = yield* primary.checksums
          for (const replica of [`${name}-2`, `${name}-3`]) {
            const sql = yield* e2e.sql(replica)
            const seen = yield* e2e.waitFor(
              `${replica} has the primary's rows`,
              Effect.map(
                Effect.orElseSucceed(sql.checksums, (): Record<string, string> => ({})),
                (sums) => (sums["app.notes"] === expected["app.notes"] ? sums : undefined)
              ),
              { timeout: "60 seconds", describe: [["pods", replica]] }
            )
            assert.deepStrictEqual(seen, expected)
          }
          console.log(JSON.stringify(cluster.status, null, 2))
        }),
      { timeout: e2eTimeout }
    )
  })
})
