import type { StatusCounts } from "@kex/contract";

/** Every status at zero: the start of a count by status. */
export function emptyCounts(): StatusCounts {
  return { queued: 0, submitting: 0, submitted: 0, processing: 0, succeeded: 0, failed: 0, canceled: 0 };
}
