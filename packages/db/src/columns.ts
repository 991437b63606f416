import type { Batch, Chain, Job } from "./generated/client";

/**
 * Rows read with plain pg come back in exactly the shape Prisma returns (`Job`, `Batch`, `Chain`):
 * these are the column lists that make them so.
 */

/** Job fields and their columns. */
export const JOB_COLUMN: { readonly [K in keyof Job]-?: string } = {
  id: "id",
  tenantId: "tenant_id",
  batchId: "batch_id",
  batchIndex: "batch_index",
  chainId: "chain_id",
  stepIndex: "step_index",
  account: "account",
  status: "status",
  videoId: "video_id",
  prompt: "prompt",
  negativePrompt: "negative_prompt",
  cfgScale: "cfg_scale",
  callbackUrl: "callback_url",
  metadata: "metadata",
  externalTaskId: "external_task_id",
  upstreamTaskId: "upstream_task_id",
  upstreamStatus: "upstream_status",
  attempts: "attempts",
  resultVideoId: "result_video_id",
  resultUrl: "result_url",
  resultDuration: "result_duration",
  errorCode: "error_code",
  errorMessage: "error_message",
  createdAt: "created_at",
  updatedAt: "updated_at",
  submittedAt: "submitted_at",
  polledAt: "polled_at",
  finishedAt: "finished_at",
  finalUnitDeduction: "final_unit_deduction",
  finalBalanceQuota: "final_balance_quota",
  finalBalanceListPrice: "final_balance_list_price",
};

const selectList = (columns: Record<string, string>, table?: string) =>
  Object.entries(columns)
    .map(([field, column]) => {
      const qualified = table ? `${table}.${column}` : column;
      return field === column && !table ? column : `${qualified} AS "${field}"`;
    })
    .join(", ");

/** `SELECT` list of a whole job (`table`: qualify the columns, for joins and `UPDATE … FROM`). */
export const JOB_SELECT = selectList(JOB_COLUMN);
export const jobSelect = (table: string) => selectList(JOB_COLUMN, table);

export const BATCH_SELECT = selectList({
  id: "id",
  tenantId: "tenant_id",
  total: "total",
  callbackUrl: "callback_url",
  name: "name",
  metadata: "metadata",
  createdAt: "created_at",
} satisfies {
  readonly [K in keyof Batch]-?: string;
});

export const CHAIN_SELECT = selectList({
  id: "id",
  tenantId: "tenant_id",
  videoId: "video_id",
  steps: "steps",
  callbackUrl: "callback_url",
  account: "account",
  status: "status",
  currentStep: "current_step",
  errorCode: "error_code",
  errorMessage: "error_message",
  createdAt: "created_at",
  updatedAt: "updated_at",
} satisfies { readonly [K in keyof Chain]-?: string });

/** Casts for columns whose type pg cannot infer from a text parameter. */
const COLUMN_CAST: Partial<Record<keyof Job, string>> = { status: "::job_status", metadata: "::jsonb" };

/**
 * Columns written once: the first value stays (`COALESCE(column, new)`), whoever writes later. What upstream
 * charged for a task comes with its final callback and its query answers alike; the first report wins, so two
 * reports racing on one job can never change, let alone add to, what was recorded.
 */
const WRITE_ONCE: ReadonlySet<keyof Job> = new Set<keyof Job>(["finalUnitDeduction", "finalBalanceQuota", "finalBalanceListPrice"]);

/** Plain values for job columns: what a transition writes. */
export type JobColumns = { [K in Exclude<keyof Job, "id">]?: Job[K] };

/**
 * `SET` assignments for plain column values, numbered from `$firstParam`. Refuses anything that is
 * not a plain value (an operation like `{ increment: 1 }` has no place here) and unknown fields.
 */
export function setClause(data: Record<string, unknown>, firstParam: number): { sql: string; values: unknown[] } {
  const parts: string[] = [];
  const values: unknown[] = [];
  for (const [field, value] of Object.entries(data)) {
    if (value === undefined) continue;
    const column = JOB_COLUMN[field as keyof Job];
    if (!column || field === "id") throw new Error(`setClause: not a writable job field: ${field}`);
    if (value !== null && typeof value === "object" && !(value instanceof Date)) throw new Error(`setClause: ${field} must be a plain value`);
    values.push(value);
    const param = `$${firstParam + values.length - 1}${COLUMN_CAST[field as keyof Job] ?? ""}`;
    parts.push(`${column} = ${WRITE_ONCE.has(field as keyof Job) ? `COALESCE(${column}, ${param})` : param}`);
  }
  return { sql: parts.join(", "), values };
}
