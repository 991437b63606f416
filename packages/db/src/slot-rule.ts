import { isTerminal, JOB_STATUSES, TERMINAL_STATUSES, type JobStatus, type UpstreamTaskStatus } from "@kex/core";

/**
 * Which jobs hold one of the upstream account's parallel-task slots, written once: the TS predicate
 * and the SQL condition below are both built from these lists.
 *
 * Upstream runs a task from the create call until it reports a final status. A job holds a slot
 * while it is being submitted or upstream runs its task. A job that finished here while upstream
 * still runs its task (canceled, or failed because we stopped waiting: the deadline) holds it until
 * upstream reports the task final or no longer knows it (upstream has no cancel).
 */
export const UPSTREAM_RUNNING_STATUSES = ["submitted", "processing"] as const satisfies readonly (JobStatus & UpstreamTaskStatus)[];
export const SLOT_STATUSES = ["submitting", ...UPSTREAM_RUNNING_STATUSES] as const satisfies readonly JobStatus[];
/** Final statuses a job can reach while its upstream task still runs. */
export const LEFT_RUNNING_STATUSES = ["canceled", "failed"] as const satisfies readonly JobStatus[];

const sqlList = (values: readonly string[]) => `(${values.map((v) => `'${v}'`).join(", ")})`;

const LEFT_RUNNING_SQL = `(status IN ${sqlList(LEFT_RUNNING_STATUSES)} AND upstream_status IN ${sqlList(UPSTREAM_RUNNING_STATUSES)})`;

/** A job's upstream task is running, as far as we know (SQL on `jobs`). */
export const TASK_RUNNING_SQL = `(status IN ${sqlList(UPSTREAM_RUNNING_STATUSES)}
  OR ${LEFT_RUNNING_SQL})`;

/** The job holds a slot of its account (SQL on `jobs`). */
export const SLOT_SQL = `(status IN ${sqlList(SLOT_STATUSES)}
  OR ${LEFT_RUNNING_SQL})`;

/**
 * The job holds a slot of the account given as parameter `$n` (SQL on `jobs`). The parallel-task
 * limit is upstream's per account, so slots are always counted per account.
 */
export const accountSlotSql = (param: number) => `(account = $${param} AND ${SLOT_SQL})`;

/** `status IN` lists of the unfinished and the final statuses. */
export const UNFINISHED_SQL_LIST = sqlList(JOB_STATUSES.filter((s) => !isTerminal(s)));
export const TERMINAL_SQL_LIST = sqlList(TERMINAL_STATUSES);

const has = (list: readonly string[], value: string | null) => value !== null && list.includes(value);

/** The job holds an account slot (the same rule as `SLOT_SQL`). */
export function holdsAccountSlot(job: { status: JobStatus; upstreamStatus: string | null }): boolean {
  return has(SLOT_STATUSES, job.status) || (has(LEFT_RUNNING_STATUSES, job.status) && has(UPSTREAM_RUNNING_STATUSES, job.upstreamStatus));
}
