/**
 * Node conformance: what a container is given — images, environment, volumes, security context.
 * https://kubernetes.io/docs/concepts/containers/images/
 * https://kubernetes.io/docs/tasks/inject-data-application/define-environment-variable-container/
 * https://kubernetes.io/docs/tasks/inject-data-application/environment-variable-expose-pod-information/
 * https://kubernetes.io/docs/tasks/inject-data-application/downward-api-volume-expose-pod-information/
 * https://kubernetes.io/docs/concepts/storage/volumes/ and .../projected-volumes/
 * https://kubernetes.io/docs/concepts/configuration/secret/ and .../configmap/
 * https://kubernetes.io/docs/tasks/configure-pod-container/security-context/
 * https://kubernetes.io/docs/tasks/configure-pod-container/configure-persistent-volume-storage/
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { objectStoreVolumeName } from "../../../src/controller/objectStoreAccess.ts"
import { secretWaitOf } from "../../../src/controller/objectStoreSecretWait.ts"
import {
  apply,
  condition,
  containerStatus,
  eventually,
  kubectl,
  nodeTestSandbox,
  operatorImage,
  podWhen,
  removePod,
  shellPod
} from "./support.ts"

const secret = (name: string, data: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name },
  stringData: data
})
const configMap = (name: string, data: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name },
  data
})

const logsOf = (name: string, container?: string) =>
  Effect.map(kubectl(["logs", name, ...(container === undefined ? [] : ["-c", container])]), (run) => run.stdout)

describe("node: container configuration", () => {
  layer(nodeTestSandbox(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect(
      "an image the sandbox cannot run stays waiting ErrImagePull / ImagePullBackOff with a clear message",
      () =>
        Effect.gen(function* () {
          yield* apply({
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "config-mysql" },
            spec: { containers: [{ name: "db", image: "ghcr.io/cloudnative-mysql/cloudnative-mysql-instance:8.4" }] }
          })
          const pulled = yield* podWhen("config-mysql", "ImagePullBackOff", (p) =>
            ["ImagePullBackOff", "ErrImagePull"].includes(containerStatus(p)?.state?.waiting?.reason)
          )
          assert.strictEqual(pulled.status.phase, "Pending")
          assert.match(
            containerStatus(pulled).state.waiting.message,
            /cannot run MySQL 8\.4.*only MariaDB is installed/
          )
          yield* apply(shellPod("config-unknown", "true", { container: { image: "docker.io/library/busybox:1.36" } }))
          const unknown = yield* podWhen(
            "config-unknown",
            "ImagePullBackOff",
            (p) => containerStatus(p)?.state?.waiting?.reason === "ImagePullBackOff"
          )
          assert.match(
            containerStatus(unknown).state.waiting.message,
            /busybox:1\.36.*runs only the cloudnative-mysql operator image/
          )
          const events = yield* kubectl([
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=config-unknown",
            "-o",
            "jsonpath={.items[*].reason}"
          ])
          assert.match(events.stdout, /Failed/)
          assert.match(events.stdout, /BackOff/)
          const logs = yield* kubectl(["logs", "config-unknown"])
          assert.match(logs.stderr, /is waiting to start: trying and failing to pull image/)
          yield* removePod("config-mysql")
          yield* removePod("config-unknown")
        })
    )

    it.effect("env: value, secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef, envFrom with prefix", () =>
      Effect.gen(function* () {
        yield* apply(
          secret("config-secret", { password: "s3cret" }),
          configMap("config-cm", { mode: "fast", level: "3" })
        )
        yield* apply(
          shellPod(
            "config-env",
            "echo $PLAIN $PASSWORD $MODE $POD_NAME $POD_NAMESPACE $POD_IP $NODE $SA $LABEL $CPU_LIMIT $MEM_REQUEST $CFG_level $HOSTNAME",
            {
              metadata: { labels: { app: "demo" } },
              container: {
                resources: { requests: { memory: "64Mi" }, limits: { cpu: "1500m" } },
                env: [
                  { name: "PLAIN", value: "plain" },
                  { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "config-secret", key: "password" } } },
                  { name: "MODE", valueFrom: { configMapKeyRef: { name: "config-cm", key: "mode" } } },
                  { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                  { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                  { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                  { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                  { name: "SA", valueFrom: { fieldRef: { fieldPath: "spec.serviceAccountName" } } },
                  { name: "LABEL", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
                  { name: "CPU_LIMIT", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } },
                  {
                    name: "MEM_REQUEST",
                    valueFrom: { resourceFieldRef: { resource: "requests.memory", divisor: "1Mi" } }
                  }
                ],
                envFrom: [{ prefix: "CFG_", configMapRef: { name: "config-cm" } }]
              }
            }
          )
        )
        const pod = yield* podWhen("config-env", "Succeeded", (p) => p.status.phase === "Succeeded")
        assert.strictEqual(
          yield* logsOf("config-env"),
          `plain s3cret fast config-env default ${pod.status.podIP} sandbox default demo 2 64 3 config-env\n`
        )
        yield* removePod("config-env")
      })
    )

    it.effect(
      "a missing Secret key keeps the container waiting in CreateContainerConfigError until the key exists",
      () =>
        Effect.gen(function* () {
          yield* apply(secret("config-partial", { present: "yes" }))
          yield* apply(
            shellPod("config-missing-key", "echo $VALUE", {
              container: {
                env: [{ name: "VALUE", valueFrom: { secretKeyRef: { name: "config-partial", key: "absent" } } }]
              }
            })
          )
          const waiting = yield* podWhen(
            "config-missing-key",
            "CreateContainerConfigError",
            (p) => containerStatus(p)?.state?.waiting?.reason === "CreateContainerConfigError"
          )
          assert.strictEqual(
            containerStatus(waiting).state.waiting.message,
            "couldn't find key absent in Secret default/config-partial"
          )
          assert.strictEqual(waiting.status.phase, "Pending")
          yield* apply(secret("config-partial", { present: "yes", absent: "now here" }))
          yield* podWhen("config-missing-key", "Succeeded", (p) => p.status.phase === "Succeeded")
          assert.strictEqual(yield* logsOf("config-missing-key"), "now here\n")
          yield* apply(
            shellPod("config-missing-secret", "true", {
              container: { env: [{ name: "V", valueFrom: { secretKeyRef: { name: "no-such-secret", key: "k" } } }] }
            }),
            shellPod("config-optional", 'echo "[$V]"', {
              container: {
                env: [{ name: "V", valueFrom: { secretKeyRef: { name: "no-such-secret", key: "k", optional: true } } }]
              }
            })
          )
          const missing = yield* podWhen(
            "config-missing-secret",
            "CreateContainerConfigError",
            (p) => containerStatus(p)?.state?.waiting?.reason === "CreateContainerConfigError"
          )
          assert.strictEqual(containerStatus(missing).state.waiting.message, 'secret "no-such-secret" not found')
          yield* podWhen("config-optional", "Succeeded", (p) => p.status.phase === "Succeeded")
          assert.strictEqual(yield* logsOf("config-optional"), "[]\n")
          for (const name of ["config-missing-key", "config-missing-secret", "config-optional"]) yield* removePod(name)
        })
    )

    it.effect(
      "secret and configMap volumes: keys as files, items with paths and modes (enforced), read-only, optional",
      () =>
        Effect.gen(function* () {
          yield* apply(
            secret("config-files", { "tls.crt": "CERT", "tls.key": "KEY" }),
            configMap("config-conf", { "my.cnf": "[mysqld]\n" })
          )
          yield* apply(
            shellPod(
              "config-volumes",
              "stat -c '%n %a' /tls/tls.crt /tls/tls.key /conf/server/my.cnf; cat /tls/tls.key /conf/server/my.cnf; ls -A /optional | wc -l; touch /tls/x 2>/dev/null || echo read-only",
              {
                container: {
                  volumeMounts: [
                    { name: "tls", mountPath: "/tls" },
                    { name: "conf", mountPath: "/conf" },
                    { name: "none", mountPath: "/optional" }
                  ]
                },
                spec: {
                  volumes: [
                    {
                      name: "tls",
                      secret: {
                        secretName: "config-files",
                        defaultMode: 0o440,
                        items: [
                          { key: "tls.crt", path: "tls.crt" },
                          { key: "tls.key", path: "tls.key", mode: 0o400 }
                        ]
                      }
                    },
                    {
                      name: "conf",
                      configMap: { name: "config-conf", items: [{ key: "my.cnf", path: "server/my.cnf" }] }
                    },
                    { name: "none", secret: { secretName: "not-there", optional: true } }
                  ]
                }
              }
            )
          )
          yield* podWhen("config-volumes", "Succeeded", (p) => p.status.phase === "Succeeded")
          assert.strictEqual(
            yield* logsOf("config-volumes"),
            // a 0400 key is root's: the image's non-root user cannot read it, as on a cluster without fsGroup
            "/tls/tls.crt 440\n/tls/tls.key 400\n/conf/server/my.cnf 644\ncat: /tls/tls.key: Permission denied\n[mysqld]\n0\nread-only\n"
          )
          yield* removePod("config-volumes")
        })
    )

    it.effect(
      "a projected volume reports every missing Secret or key in one FailedMount message, as the kubelet aggregates them; the Pod starts once they exist",
      () =>
        Effect.gen(function* () {
          // the object-store volume as the operator renders it: one source per key, two keys from one Secret
          const spec = {
            volumes: [
              {
                name: objectStoreVolumeName,
                projected: {
                  defaultMode: 0o400,
                  sources: [
                    { secret: { name: "config-s3", items: [{ key: "access", path: "accessKeyId" }] } },
                    { secret: { name: "config-s3", items: [{ key: "secret", path: "secretAccessKey" }] } },
                    { secret: { name: "config-sse", items: [{ key: "key", path: "customerKey" }] } }
                  ]
                }
              }
            ]
          }
          yield* apply(
            shellPod("config-projected-missing", "ls /store", {
              container: { volumeMounts: [{ name: objectStoreVolumeName, mountPath: "/store" }] },
              spec
            })
          )
          const mountMessage = (expected: string) =>
            eventually(
              `FailedMount ${expected}`,
              Effect.map(
                kubectl([
                  "get",
                  "events",
                  "--field-selector",
                  "involvedObject.name=config-projected-missing,reason=FailedMount",
                  "-o",
                  "json"
                ]),
                (run) =>
                  (JSON.parse(run.stdout).items as ReadonlyArray<{ readonly message: string }>)
                    .map((event) => event.message)
                    .find((message) => message === expected)
              )
            )
          // the same Secret twice is one message; two Secrets are an aggregate
          const bothMissing = yield* mountMessage(
            `MountVolume.SetUp failed for volume "${objectStoreVolumeName}" : [secret "config-s3" not found, secret "config-sse" not found]`
          )
          const pod = yield* podWhen(
            "config-projected-missing",
            "ContainerCreating",
            (p) => p.status.phase === "Pending"
          )
          assert.strictEqual(containerStatus(pod).state.waiting.reason, "ContainerCreating")
          // what the operator makes of the kubelet's words (it reads the Pod template, never the Secret)
          assert.strictEqual(
            secretWaitOf(spec, "default", bothMissing, "the Pod")?.message,
            "the object store's Secret default/config-s3 does not exist (keys access, secret); Secret default/config-sse does not exist (keys key): the Pod waits in ContainerCreating and starts once it exists"
          )
          yield* apply(secret("config-s3", { access: "a" }), secret("config-sse", { key: "k" }))
          const keyMissing = yield* mountMessage(
            `MountVolume.SetUp failed for volume "${objectStoreVolumeName}" : references non-existent secret key: secret`
          )
          assert.strictEqual(
            secretWaitOf(spec, "default", keyMissing, "the Pod")?.message,
            "the object store's Secret default/config-s3 has no key secret: the Pod waits in ContainerCreating and starts once it exists"
          )
          yield* apply(secret("config-s3", { access: "a", secret: "s" }))
          yield* podWhen("config-projected-missing", "Succeeded", (p) => p.status.phase === "Succeeded")
          assert.strictEqual(yield* logsOf("config-projected-missing"), "accessKeyId\ncustomerKey\nsecretAccessKey\n")
          yield* removePod("config-projected-missing")
          yield* kubectl(["delete", "secret", "config-s3", "config-sse"])
        })
    )

    it.effect("a missing Secret volume keeps the Pod ContainerCreating with a FailedMount event", () =>
      Effect.gen(function* () {
        yield* apply(
          shellPod("config-failed-mount", "true", {
            container: { volumeMounts: [{ name: "s", mountPath: "/s" }] },
            spec: { volumes: [{ name: "s", secret: { secretName: "config-never" } }] }
          })
        )
        const pod = yield* podWhen(
          "config-failed-mount",
          "ContainerCreating",
          (p) =>
            containerStatus(p)?.state?.waiting?.reason === "ContainerCreating" &&
            condition(p, "PodScheduled")?.status === "True"
        )
        assert.strictEqual(pod.status.phase, "Pending")
        const events = yield* kubectl([
          "get",
          "events",
          "--field-selector",
          "involvedObject.name=config-failed-mount,reason=FailedMount",
          "-o",
          "jsonpath={.items[0].message}"
        ])
        assert.strictEqual(events.stdout, 'MountVolume.SetUp failed for volume "s" : secret "config-never" not found')
        yield* removePod("config-failed-mount")
      })
    )

    it.effect(
      "service-account volume (token, ca.crt, namespace) unless automountServiceAccountToken is false; downward API and projected volumes",
      () =>
        Effect.gen(function* () {
          const sa = "/var/run/secrets/kubernetes.io/serviceaccount"
          yield* apply(
            shellPod(
              "config-sa",
              `ls ${sa}; cat ${sa}/namespace; echo; cat /info/name /info/labels; echo; cat /projected/name /projected/key`,
              {
                metadata: { labels: { tier: "db" } },
                container: {
                  volumeMounts: [
                    { name: "info", mountPath: "/info" },
                    { name: "projected", mountPath: "/projected" }
                  ]
                },
                spec: {
                  volumes: [
                    {
                      name: "info",
                      downwardAPI: {
                        items: [
                          { path: "name", fieldRef: { fieldPath: "metadata.name" } },
                          { path: "labels", fieldRef: { fieldPath: "metadata.labels" } }
                        ]
                      }
                    },
                    {
                      name: "projected",
                      projected: {
                        sources: [
                          { downwardAPI: { items: [{ path: "name", fieldRef: { fieldPath: "metadata.namespace" } }] } },
                          { configMap: { name: "config-conf", items: [{ key: "my.cnf", path: "key" }] } }
                        ]
                      }
                    }
                  ]
                }
              }
            ),
            shellPod("config-no-sa", `ls ${sa} 2>&1 || echo no token`, {
              spec: { automountServiceAccountToken: false }
            })
          )
          yield* podWhen("config-sa", "Succeeded", (p) => p.status.phase === "Succeeded")
          assert.strictEqual(
            yield* logsOf("config-sa"),
            'ca.crt\nnamespace\ntoken\ndefault\nconfig-satier="db"\ndefault[mysqld]\n'
          )
          yield* podWhen("config-no-sa", "Succeeded", (p) => p.status.phase === "Succeeded")
          assert.match(yield* logsOf("config-no-sa"), /No such file or directory\nno token\n$/)
          yield* removePod("config-sa")
          yield* removePod("config-no-sa")
        })
    )

    it.effect(
      "in-cluster config: a Pod reaches the API server over TLS with its service-account token and ca.crt",
      () =>
        Effect.gen(function* () {
          const clientNode = import.meta.resolve("@kubernetes/client-node")
          const script = [
            `const k8s = await import(${JSON.stringify(clientNode)})`,
            "const config = new k8s.KubeConfig()",
            "config.loadFromCluster()",
            "const pods = await config.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: 'default' })",
            "console.log(config.getCurrentCluster().server.startsWith('https://127.0.0.1:'), pods.items.some((p) => p.metadata.name === 'config-incluster'))"
          ].join("; ")
          yield* apply(
            shellPod("config-incluster", "", { container: { command: ["node", "--input-type=module", "-e", script] } })
          )
          const pod = yield* podWhen("config-incluster", "finished", (p) =>
            ["Succeeded", "Failed"].includes(p.status.phase)
          )
          assert.strictEqual(yield* logsOf("config-incluster"), "true true\n")
          assert.strictEqual(pod.status.phase, "Succeeded")
          yield* removePod("config-incluster")
        })
    )

    it.effect("emptyDir is shared by the Pod's containers; subPath mounts a part of a volume", () =>
      Effect.gen(function* () {
        yield* apply({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "config-emptydir" },
          spec: {
            restartPolicy: "Never",
            volumes: [{ name: "shared", emptyDir: {} }],
            initContainers: [
              {
                name: "writer",
                image: operatorImage,
                command: ["sh", "-c", "mkdir -p /shared/sub && echo from-init > /shared/sub/file"],
                volumeMounts: [{ name: "shared", mountPath: "/shared" }]
              }
            ],
            containers: [
              {
                name: "reader",
                image: operatorImage,
                command: ["sh", "-c", "cat /only-sub/file"],
                volumeMounts: [{ name: "shared", mountPath: "/only-sub", subPath: "sub" }]
              }
            ]
          }
        })
        yield* podWhen("config-emptydir", "Succeeded", (p) => p.status.phase === "Succeeded")
        assert.strictEqual(yield* logsOf("config-emptydir"), "from-init\n")
        yield* removePod("config-emptydir")
      })
    )

    it.effect(
      "security context: runAsUser/runAsGroup/fsGroup on a claim; runAsNonRoot refuses uid 0; readOnlyRootFilesystem",
      () =>
        Effect.gen(function* () {
          yield* apply({
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: { name: "config-claim" },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Mi" } } }
          })
          yield* apply(
            shellPod(
              "config-user",
              "id -u; id -g; id -G; echo data > /data/f && stat -c '%g' /data/f; touch /root-file 2>/dev/null || echo read-only root; echo tmp > /scratch/t && echo scratch writable",
              {
                container: {
                  securityContext: { readOnlyRootFilesystem: true, runAsGroup: 3000 },
                  volumeMounts: [
                    { name: "data", mountPath: "/data" },
                    { name: "scratch", mountPath: "/scratch" }
                  ]
                },
                spec: {
                  securityContext: { runAsUser: 1001, fsGroup: 2000 },
                  volumes: [
                    { name: "data", persistentVolumeClaim: { claimName: "config-claim" } },
                    { name: "scratch", emptyDir: {} }
                  ]
                }
              }
            ),
            shellPod("config-root", "true", { spec: { securityContext: { runAsNonRoot: true, runAsUser: 0 } } }),
            shellPod("config-nonroot-ok", "id -u", { spec: { securityContext: { runAsNonRoot: true } } })
          )
          yield* podWhen("config-user", "Succeeded", (p) => p.status.phase === "Succeeded")
          assert.strictEqual(
            yield* logsOf("config-user"),
            "1001\n3000\n3000 2000\n2000\nread-only root\nscratch writable\n"
          )
          const refused = yield* podWhen(
            "config-root",
            "CreateContainerConfigError",
            (p) => containerStatus(p)?.state?.waiting?.reason === "CreateContainerConfigError"
          )
          assert.match(
            containerStatus(refused).state.waiting.message,
            /^container's runAsUser breaks non-root policy \(pod: "config-root_default\(.+\)", container: main\)$/
          )
          yield* podWhen("config-nonroot-ok", "Succeeded", (p) => p.status.phase === "Succeeded")
          assert.strictEqual(yield* logsOf("config-nonroot-ok"), "65532\n")
          for (const name of ["config-user", "config-root", "config-nonroot-ok"]) yield* removePod(name)
        })
    )

    it.effect("a Pod on an unbound claim stays Pending, unschedulable, until the claim exists and binds", () =>
      Effect.gen(function* () {
        const mount = { volumeMounts: [{ name: "d", mountPath: "/d" }] }
        yield* apply(
          shellPod("config-pending", "echo bound", {
            container: mount,
            spec: { volumes: [{ name: "d", persistentVolumeClaim: { claimName: "config-later" } }] }
          })
        )
        const pending = yield* podWhen(
          "config-pending",
          "Unschedulable",
          (p) => condition(p, "PodScheduled")?.reason === "Unschedulable"
        )
        assert.strictEqual(pending.status.phase, "Pending")
        assert.isUndefined(pending.spec.nodeName)
        assert.match(condition(pending, "PodScheduled").message, /persistentvolumeclaim "config-later" not found/)
        yield* apply({
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: { name: "config-later" },
          spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Mi" } } }
        })
        yield* podWhen("config-pending", "Succeeded", (p) => p.status.phase === "Succeeded")
        yield* removePod("config-pending")
      })
    )
  })
})
