/**
 * Node conformance: our MariaDB instance image on a PersistentVolumeClaim, as the operator will run it —
 * `cloudnative-mysql instance` supervising `mariadbd`, Ready only once the server answers (`/readyz`), the
 * data kept across a delete and re-create of the Pod on the same claim.
 * https://kubernetes.io/docs/tasks/configure-pod-container/configure-persistent-volume-storage/
 * https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
 */
import { execFile } from "node:child_process"
import { join } from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { instanceImage } from "../../../src/api/images.ts"
import { createCertificateAuthority, issueServerCertificate } from "../../../src/instance/pki.ts"
import { apply, condition, containerStatus, getJson, kubectl, nodeTestSandbox, podWhen } from "./support.ts"

const image = instanceImage("mariadb-10.11")

const myCnf = `[mysqld]
datadir=/var/lib/mysql/data
socket=/var/lib/mysql/mysqld.sock
pid-file=/var/lib/mysql/mysqld.pid
log-error=/var/lib/mysql/error.log
skip-networking
server_id=1
log_bin=/var/lib/mysql/data/mysql-bin
binlog_format=ROW
innodb_buffer_pool_size=32M
init-file=/etc/mysql/init.sql
[client]
socket=/var/lib/mysql/mysqld.sock
`

// every server start records itself: the row count tells how many starts this data directory has seen
const initSql = `CREATE USER IF NOT EXISTS 'backup'@'localhost' IDENTIFIED BY 'backup-pw';
GRANT RELOAD, PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.* TO 'backup'@'localhost';
CREATE DATABASE IF NOT EXISTS sandbox;
CREATE TABLE IF NOT EXISTS sandbox.starts (id INT AUTO_INCREMENT PRIMARY KEY, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
INSERT INTO sandbox.starts () VALUES ();
`

const instancePod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "db-1", labels: { "cloudnative-mysql.io/cluster": "db" } },
  spec: {
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: 30,
    securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true },
    volumes: [
      { name: "data", persistentVolumeClaim: { claimName: "db-1" } },
      { name: "config", configMap: { name: "db-config" } },
      { name: "tls", secret: { secretName: "db-tls", defaultMode: 0o440 } },
      { name: "passwords", secret: { secretName: "db-passwords", defaultMode: 0o440 } },
      { name: "tmp", emptyDir: {} }
    ],
    initContainers: [
      {
        name: "bootstrap",
        image,
        command: [
          "sh",
          "-c",
          "test -d /var/lib/mysql/data/mysql || { mkdir -p /var/lib/mysql/data && mariadb-install-db --defaults-file=/etc/mysql/my.cnf --auth-root-authentication-method=normal --skip-test-db > /var/lib/mysql/install.log 2>&1; }"
        ],
        securityContext: { readOnlyRootFilesystem: true },
        volumeMounts: [
          { name: "data", mountPath: "/var/lib/mysql" },
          { name: "config", mountPath: "/etc/mysql" },
          { name: "tmp", mountPath: "/tmp" }
        ]
      }
    ],
    containers: [
      {
        name: "instance",
        image,
        env: [
          { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
          { name: "LISTEN_ADDRESS", value: "$(POD_IP)" },
          { name: "MYSQLD_DEFAULTS_FILE", value: "/etc/mysql/my.cnf" },
          { name: "MYSQL_SOCKET", value: "/var/lib/mysql/mysqld.sock" },
          { name: "BACKUP_USER", value: "backup" },
          { name: "BACKUP_PASSWORD_FILE", value: "/etc/mysql-secrets/backup-password" },
          { name: "TLS_CA_FILE", value: "/etc/mysql-tls/ca.crt" },
          { name: "TLS_CERT_FILE", value: "/etc/mysql-tls/tls.crt" },
          { name: "TLS_KEY_FILE", value: "/etc/mysql-tls/tls.key" }
        ],
        ports: [
          { name: "probe", containerPort: 8000 },
          { name: "api", containerPort: 8443 }
        ],
        readinessProbe: { httpGet: { path: "/readyz", port: "probe" }, periodSeconds: 1, failureThreshold: 3 },
        livenessProbe: { httpGet: { path: "/healthz", port: "probe" }, periodSeconds: 5, failureThreshold: 6 },
        securityContext: { readOnlyRootFilesystem: true },
        volumeMounts: [
          { name: "data", mountPath: "/var/lib/mysql" },
          { name: "config", mountPath: "/etc/mysql" },
          { name: "tls", mountPath: "/etc/mysql-tls" },
          { name: "passwords", mountPath: "/etc/mysql-secrets" },
          { name: "tmp", mountPath: "/tmp" }
        ]
      }
    ]
  }
}

/** `SELECT COUNT(*)` of the start log, through the server's socket on the claim's host directory. */
const startsRecorded = (volumeDir: string) =>
  Effect.callback<string>((resume) => {
    execFile(
      "mariadb",
      [
        `--socket=${join(volumeDir, "mysqld.sock")}`,
        "-uroot",
        "--batch",
        "--skip-column-names",
        "-e",
        "SELECT COUNT(*) FROM sandbox.starts"
      ],
      (error, stdout, stderr) => resume(Effect.succeed(error === null ? stdout.trim() : `error: ${stderr}`))
    )
  })

describe("node: the MariaDB instance image on a claim", () => {
  layer(nodeTestSandbox(), { excludeTestServices: true, timeout: "180 seconds" })((it) => {
    it.effect(
      "Ready only once MariaDB answers; deleted and re-created on the same claim, the data is still there",
      () =>
        Effect.gen(function* () {
          const ca = yield* createCertificateAuthority({ commonName: "db CA" })
          const server = yield* issueServerCertificate(ca, { commonName: "db-1", names: ["db-1", "127.0.0.1"] })
          yield* apply(
            {
              apiVersion: "v1",
              kind: "PersistentVolumeClaim",
              metadata: { name: "db-1" },
              spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } }
            },
            {
              apiVersion: "v1",
              kind: "ConfigMap",
              metadata: { name: "db-config" },
              data: { "my.cnf": myCnf, "init.sql": initSql }
            },
            {
              apiVersion: "v1",
              kind: "Secret",
              metadata: { name: "db-tls" },
              stringData: { "ca.crt": ca.certificate, "tls.crt": server.certificate, "tls.key": server.privateKey }
            },
            {
              apiVersion: "v1",
              kind: "Secret",
              metadata: { name: "db-passwords" },
              stringData: { "backup-password": "backup-pw\n" }
            },
            instancePod
          )
          const running = yield* podWhen(
            "db-1",
            "instance running",
            (p) => containerStatus(p, "instance")?.state?.running !== undefined,
            "60 seconds"
          )
          // the status written when the process started: not ready before the first /readyz success
          assert.strictEqual(condition(running, "Ready").status === "True", containerStatus(running, "instance").ready)
          const ready = yield* kubectl(["wait", "--for=condition=Ready", "pod/db-1", "--timeout=40s"])
          if (ready.code !== 0) {
            console.log((yield* kubectl(["get", "pod", "db-1", "-o", "yaml"])).stdout)
            console.log((yield* kubectl(["logs", "db-1", "-c", "instance"])).stdout)
            console.log((yield* kubectl(["get", "events"])).stdout)
          }
          assert.strictEqual(ready.code, 0, ready.stderr)
          const claim = yield* getJson("pvc", "db-1")
          const volume = yield* getJson("pv", claim.spec.volumeName)
          const volumeDir: string = volume.spec.hostPath.path
          assert.strictEqual(yield* startsRecorded(volumeDir), "1")

          const deleted = yield* kubectl(["delete", "pod", "db-1", "--timeout=60s"])
          assert.strictEqual(deleted.code, 0, deleted.stderr)
          yield* apply(instancePod)
          const again = yield* kubectl(["wait", "--for=condition=Ready", "pod/db-1", "--timeout=90s"])
          assert.strictEqual(again.code, 0, again.stderr)
          const pod = yield* getJson("pod", "db-1")
          // the data directory was not initialised again: the first start's row is still there
          assert.strictEqual(pod.status.initContainerStatuses[0].state.terminated.exitCode, 0)
          assert.strictEqual(yield* startsRecorded(volumeDir), "2")
          const logs = yield* kubectl(["logs", "db-1", "-c", "instance", "--tail=50"])
          assert.match(logs.stdout, /"level"/)
          const stopped = yield* kubectl(["delete", "pod", "db-1", "--timeout=60s"])
          assert.strictEqual(stopped.code, 0, stopped.stderr)
        }),
      { timeout: 170_000 }
    )
  })
})
