/**
 * The retention Job of a Cluster, rendered purely (docs/pitr.md, "Retention"): `<cluster>-retention` runs
 * `cloudnative-mysql retention` in the Cluster's image, owned by the Cluster. It is the only place the
 * credentials a deletion needs exist: the object store's Secret keys are mounted as files exactly as for the
 * backup worker and the cleanup Job (the same projected volume), never in the environment; the Pod has no
 * ServiceAccount token and no privilege. What it deleted reaches the controller as its termination message.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { envVarList } from "../../api/env.ts"
import { retentionJobLabels, retentionJobName } from "../../api/names.ts"
import { RetentionEnv } from "../../api/retentionJob.ts"
import type { Job } from "../../kube/resources.ts"
import { objectStoreMountPath, objectStorePodSpec } from "../backup/render.ts"
import { type ClusterRef, ownerReference } from "../cluster/render.ts"
import { objectStoreAccess, sdkHome } from "../objectStoreAccess.ts"

/** The Job's deadline: a listing of a large bucket and its deletes, well within it. */
export const retentionActiveDeadlineSeconds = 30 * 60

/** Retries of a failed run's Pod (a transient store failure) before the run counts as failed. */
export const retentionBackoffLimit = 1

/** The annotation that says whether the run is a dry run (the controller reads it back with the result). */
export const dryRunAnnotation = "cloudnative-mysql.io/retention-dry-run"

const encodeEnv = Schema.encodeUnknownSync(RetentionEnv)

/** The retention Job, or `undefined` when the Cluster has no retention policy (or no object store). */
export const renderRetentionJob = (cluster: ClusterRef, dryRun: boolean): Job | undefined => {
  const backup = cluster.spec.backup
  if (backup?.retentionPolicy === undefined) return undefined
  const jobLabels = retentionJobLabels(cluster.name)
  const env = encodeEnv({
    RETENTION_CLUSTER_NAME: cluster.name,
    RETENTION_POLICY: backup.retentionPolicy,
    RETENTION_DRY_RUN: dryRun ? "true" : "false",
    OBJECT_STORE_SPEC: backup.objectStore,
    OBJECT_STORE_SECRETS_DIR: objectStoreMountPath
  }) as Readonly<Record<string, string | undefined>>
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: retentionJobName(cluster.name),
      namespace: cluster.namespace,
      labels: jobLabels,
      annotations: { [dryRunAnnotation]: String(dryRun) },
      ownerReferences: [ownerReference(cluster)]
    },
    spec: {
      backoffLimit: retentionBackoffLimit,
      activeDeadlineSeconds: retentionActiveDeadlineSeconds,
      template: {
        metadata: { labels: jobLabels },
        spec: objectStorePodSpec(
          {
            name: "retention",
            image: cluster.spec.imageName,
            command: ["cloudnative-mysql", "retention"],
            env: envVarList({ ...env, ...sdkHome })
          },
          [objectStoreAccess(backup.objectStore, objectStoreMountPath).volume]
        )
      }
    }
  }
}
