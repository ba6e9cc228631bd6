/**
 * A Job's terminal condition, as every reader of the operator's Jobs (backup, recovery, retention) and the
 * caches' projection (`projections.ts`) tell a finished Job from a running one.
 *
 * @since 0.2.0
 */
import type { Job } from "../kube/resources.ts"

/** The Job's `Complete` or `Failed` condition with status `True`, when it has finished. */
export const finishedCondition = (job: Job) =>
  job.status?.conditions?.find((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True")
