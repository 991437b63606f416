import { z } from "zod";

/**
 * The enums the API shows. Their order is the order of a job's life, which pages and progress lines
 * keep. What the statuses mean to the lifecycle (final or not, holding an upstream task) is packages/core's.
 */
export const JOB_STATUSES = ["queued", "submitting", "submitted", "processing", "succeeded", "failed", "canceled"] as const;
export const JobStatusSchema = z.enum(JOB_STATUSES).meta({ id: "JobStatus" });
export type JobStatus = z.infer<typeof JobStatusSchema>;

/** Who wrote a job event. */
export const JOB_EVENT_SOURCES = ["api", "worker", "webhook", "reconciler", "sweeper"] as const;
export const JobEventSourceSchema = z.enum(JOB_EVENT_SOURCES);
export type JobEventSource = z.infer<typeof JobEventSourceSchema>;

/** `pending` (an attempt is due or scheduled), `delivered` (a 2xx came back), `failed` (every scheduled attempt failed). */
export const DeliveryStatusSchema = z.enum(["pending", "delivered", "failed"]);
export type DeliveryStatus = z.infer<typeof DeliveryStatusSchema>;

export const ChainStatusSchema = z.enum(["running", "succeeded", "failed"]);
export type ChainStatus = z.infer<typeof ChainStatusSchema>;
