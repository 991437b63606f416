import type { BatchResource, JobEventResource, JobResource } from "@kex/core";
import type { Batch, Job, JobEvent } from "./generated/client";

/** The public job object (docs/architecture.md#the-contract): its shape is `JobResourceSchema` (packages/core), also the OpenAPI document's. */
export type { JobResource } from "@kex/core";

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toJobResource(job: Job): JobResource {
  return {
    id: job.id,
    batch_id: job.batchId,
    status: job.status,
    video_id: job.videoId,
    prompt: job.prompt,
    negative_prompt: job.negativePrompt,
    cfg_scale: job.cfgScale,
    callback_url: job.callbackUrl,
    metadata: job.metadata ?? null,
    upstream_task_id: job.upstreamTaskId,
    upstream_status: job.upstreamStatus,
    attempts: job.attempts,
    result:
      job.resultVideoId && job.resultUrl
        ? { video_id: job.resultVideoId, url: job.resultUrl, duration: job.resultDuration }
        : null,
    error: job.errorCode ? { code: job.errorCode, message: job.errorMessage ?? "" } : null,
    created_at: job.createdAt.toISOString(),
    updated_at: job.updatedAt.toISOString(),
    submitted_at: iso(job.submittedAt),
    finished_at: iso(job.finishedAt),
  };
}

export type { JobEventResource } from "@kex/core";

export function toJobEventResource(event: JobEvent): JobEventResource {
  return {
    id: event.id.toString(),
    at: event.at.toISOString(),
    source: event.source,
    type: event.type,
    from_status: event.fromStatus,
    to_status: event.toStatus,
    detail: event.detail,
    payload: event.payload ?? null,
  };
}

export type StatusCounts = Record<Job["status"], number>;

export type { BatchResource } from "@kex/core";

export function toBatchResource(batch: Batch, counts: StatusCounts): BatchResource {
  const finished = counts.succeeded + counts.failed + counts.canceled;
  return {
    id: batch.id,
    total: batch.total,
    callback_url: batch.callbackUrl,
    counts,
    done: finished === batch.total,
    created_at: batch.createdAt.toISOString(),
  };
}
