/**
 * The sample monitoring (`deploy/monitoring`): it renders with this machine's kustomize; every alert is PromQL the
 * Prometheus grammar (lezer-promql, Prometheus's own) accepts; every metric an alert reads is one the operator
 * exports (a renamed metric or a typo fails here, not silently in someone's Prometheus); the scrape
 * configuration points at the ports and labels the Pods really carry.
 */
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { parser } from "@prometheus-io/lezer-promql"
import { Effect } from "effect"
import { parseAllDocuments } from "yaml"
import { alertRules } from "../../src/api/monitoring.ts"
import { labels } from "../../src/api/names.ts"
import { backupGauges } from "../../src/controller/backupMetrics.ts"
import { renderPod } from "../../src/controller/cluster/render.ts"
import { renderInstanceMetrics } from "../../src/instance/metrics.ts"
import { ref } from "../controller/cluster/fixtures.ts"
import { parseExposition } from "../support/prometheus.ts"

const repo = join(import.meta.dirname, "..", "..")

// biome-ignore lint/suspicious/noExplicitAny: the rendered manifests are walked as plain JSON
type Json = any

const rendered: ReadonlyArray<Json> = parseAllDocuments(
  execFileSync("kubectl", ["kustomize", join(repo, "deploy", "monitoring")], { encoding: "utf8" })
).map((document) => document.toJS())

/** The metric names of a PromQL expression, and its syntax errors. */
const analyse = (expr: string) => {
  const metrics = new Set<string>()
  const errors: Array<string> = []
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(`at ${node.from}: ${expr.slice(Math.max(0, node.from - 10), node.to + 10)}`)
      if (node.name === "Identifier" && node.node.parent?.name === "VectorSelector") {
        metrics.add(expr.slice(node.from, node.to))
      }
    }
  })
  return { metrics, errors }
}

describe("deploy/monitoring", () => {
  it("renders the PrometheusRule, the controller's ServiceMonitor and the instances' PodMonitor", () => {
    assert.deepStrictEqual(rendered.map((object) => object.kind).sort(), [
      "PodMonitor",
      "PrometheusRule",
      "ServiceMonitor"
    ])
    const rule = rendered.find((object) => object.kind === "PrometheusRule")
    assert.deepStrictEqual(
      rule.spec.groups[0].rules.map((r: Json) => r.alert),
      alertRules.map((r) => r.alert)
    )
    for (const r of rule.spec.groups[0].rules) {
      assert.include(["warning", "critical"], r.labels.severity)
      assert.match(r.annotations.runbook_url, /docs\/operations\.md#cloudnativemysql/u)
    }
  })

  it.effect("every alert parses as PromQL and reads only metrics the operator exports", () =>
    Effect.gen(function* () {
      const instance = parseExposition(
        yield* renderInstanceMetrics({
          status: {
            role: "replica",
            serverVersion: "10.11.19-MariaDB",
            readOnly: true,
            executedGtid: "0-1-9",
            binlog: null,
            replication: [
              { name: "", sourceHost: "c-rw", ioRunning: true, sqlRunning: true, lagSeconds: 3, lastError: null }
            ]
          },
          flavor: "mariadb",
          sessions: {
            running: false,
            ended: { completed: 1, failed: 0, aborted: 0 },
            streamedBytes: 10,
            last: { bytes: 10, durationSeconds: 1, result: "completed" }
          }
        })
      )
      const exported = new Set([...instance.keys(), ...Object.keys(backupGauges)])
      for (const rule of alertRules) {
        const { metrics, errors } = analyse(rule.expr)
        assert.deepStrictEqual(errors, [], `${rule.alert}: ${rule.expr}`)
        assert.isAbove(metrics.size, 0, rule.alert)
        for (const metric of metrics)
          assert.isTrue(exported.has(metric), `${rule.alert} reads ${metric}, which nothing exports`)
      }
      // the checker itself: a typo is a syntax error, an unknown name is found
      assert.isAbove(analyse("max by (namespace (cnmysql_instance_up)").errors.length, 0)
      assert.deepStrictEqual([...analyse("rate(cnmysql_nope_total[5m]) > 0").metrics], ["cnmysql_nope_total"])
    })
  )

  it("scrapes the instance Pods on the port and labels their Pods carry", () => {
    const podMonitor = rendered.find((object) => object.kind === "PodMonitor")
    const pod = renderPod(ref(), { serial: 1, role: "primary", bootstrap: "initialise" }) as Json
    const container = pod.spec.containers.find((c: Json) => c.name === "instance") ?? pod.spec.containers[0]
    const endpoint = podMonitor.spec.podMetricsEndpoints[0]
    assert.isTrue(
      container.ports.some((port: Json) => port.name === endpoint.port),
      `the instance container has a port named ${endpoint.port}`
    )
    for (const [key, value] of Object.entries(podMonitor.spec.selector.matchLabels)) {
      assert.strictEqual(pod.metadata.labels[key], value, key)
    }
    assert.isDefined(pod.metadata.labels[labels.cluster])
    assert.strictEqual(
      endpoint.relabelings[0].sourceLabels[0],
      `__meta_kubernetes_pod_label_${labels.cluster.replace(/[./-]/gu, "_")}`
    )
    const serviceMonitor = rendered.find((object) => object.kind === "ServiceMonitor")
    assert.isTrue(serviceMonitor.spec.endpoints[0].honorLabels, "the Cluster's namespace label wins over the target's")
  })
})
