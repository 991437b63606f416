import type { JobStatus } from "@kex/contract";

// The statuses are the API's (packages/contract); what they mean to the lifecycle is here.
export { JOB_STATUSES, type JobStatus } from "@kex/contract";

export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "canceled"];

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export const UPSTREAM_TASK_STATUSES = ["submitted", "processing", "succeed", "failed"] as const;
export type UpstreamTaskStatus = (typeof UPSTREAM_TASK_STATUSES)[number];

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
