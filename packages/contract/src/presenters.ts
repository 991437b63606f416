import type { ChainStep } from "./requests";
import type {
  ApiKeyResource,
  BatchResource,
  ChainResource,
  DeliveryResource,
  JobEventResource,
  JobResource,
  StatusCounts,
  TenantResource,
} from "./resources";
import type { ApiKeyRow, BatchRow, ChainJobRow, ChainRow, DeliveryRow, JobEventRow, JobRow, TenantRow } from "./rows";
import type { ChainStatus, DeliveryStatus } from "./statuses";

/** Stored rows → the public resources of `resources.ts`: the one place a response body is built from a row. */

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toJobResource(job: JobRow): JobResource {
  return {
    id: job.id,
    batch_id: job.batchId,
    account: job.account,
    batch_index: job.batchIndex,
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
    result: job.resultVideoId && job.resultUrl ? { video_id: job.resultVideoId, url: job.resultUrl, duration: job.resultDuration } : null,
    error: job.errorCode ? { code: job.errorCode, message: job.errorMessage ?? "" } : null,
    final_unit_deduction: job.finalUnitDeduction,
    final_balance_deduction:
      job.finalBalanceQuota !== null && job.finalBalanceListPrice !== null ? { quota: job.finalBalanceQuota, list_price: job.finalBalanceListPrice } : null,
    created_at: job.createdAt.toISOString(),
    updated_at: job.updatedAt.toISOString(),
    submitted_at: iso(job.submittedAt),
    finished_at: iso(job.finishedAt),
  };
}

export function toJobEventResource(event: JobEventRow): JobEventResource {
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

export function toBatchResource(batch: BatchRow, counts: StatusCounts): BatchResource {
  const finished = counts.succeeded + counts.failed + counts.canceled;
  return {
    id: batch.id,
    name: batch.name,
    metadata: batch.metadata ?? null,
    total: batch.total,
    callback_url: batch.callbackUrl,
    counts,
    done: finished === batch.total,
    created_at: batch.createdAt.toISOString(),
  };
}

export function toTenantResource(tenant: TenantRow): TenantResource {
  return { id: tenant.id, name: tenant.name, created_at: tenant.createdAt.toISOString() };
}

export function toApiKeyResource(key: ApiKeyRow): ApiKeyResource {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    tenant_id: key.tenantId,
    created_at: key.createdAt.toISOString(),
    revoked_at: key.revokedAt?.toISOString() ?? null,
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
  };
}

export function toDeliveryResource(d: DeliveryRow): DeliveryResource {
  return {
    id: d.id,
    event_type: d.eventType,
    job_id: d.jobId,
    batch_id: d.batchId,
    url: d.url,
    // The column is text; only the delivery code writes it, with these values.
    status: d.status as DeliveryStatus,
    attempts: d.attempts,
    next_attempt_at: d.status === "pending" ? d.nextAttemptAt.toISOString() : null,
    delivered_at: d.deliveredAt?.toISOString() ?? null,
    last_error: d.lastError,
    created_at: d.createdAt.toISOString(),
    attempt_log: d.attemptLog.map((a) => ({
      attempt: a.attempt,
      at: a.at.toISOString(),
      status_code: a.statusCode,
      latency_ms: a.latencyMs,
      error: a.error,
    })),
  };
}

/**
 * The chain with each step's latest job and the final video once the last step succeeded. `jobs`: the
 * chain's jobs ordered by step, then by creation (a retried step has several).
 */
export function toChainResource(chain: ChainRow, jobs: readonly ChainJobRow[]): ChainResource {
  const steps = chain.steps as ChainStep[];
  const view = steps.map((step, index) => {
    const forStep = jobs.filter((j) => j.stepIndex === index);
    const latest = forStep[forStep.length - 1];
    return { index, ...step, job: latest ? toJobResource(latest) : null, attempts: forStep.length };
  });
  const last = view[view.length - 1]?.job;
  return {
    id: chain.id,
    // The column is text; only the chain code writes it, with these values.
    status: chain.status as ChainStatus,
    account: chain.account,
    video_id: chain.videoId,
    callback_url: chain.callbackUrl,
    current_step: chain.currentStep,
    steps: view,
    final_video: chain.status === "succeeded" && last?.result ? last.result : null,
    error: chain.errorCode ? { code: chain.errorCode, message: chain.errorMessage ?? "" } : null,
    created_at: chain.createdAt.toISOString(),
    updated_at: chain.updatedAt.toISOString(),
  };
}
