import { setTimeout as sleep } from "node:timers/promises";
import { ATTEMPTS_EXHAUSTED_CODE } from "@kex/contract";
import { callbackUrl, JOB_CATALOG, SubmitPayloadSchema, type Logger, type SubmitPayload } from "@kex/core";
import {
  adoptUpstreamTask as adoptUpstreamTaskInDb,
  applyJobEvent as applyJobEventInDb,
  getJob,
  recordEvent,
  recordSubmitAttempt,
  type Db,
  type Job,
} from "@kex/db";
import { classifyUpstreamError, type KlingClient, type KlingErrorResult, type UpstreamVerdict } from "@kex/kling";
import { countingFinished } from "@kex/metrics";
import { enqueueSubmits, type AccountPauseStore } from "@kex/queue";
import { DelayedError, type Job as BullJob, type Queue } from "bullmq";
import { Worker } from "bullmq";
import { ClaimBatcher } from "./claim-batcher";
import type { WorkerMetrics } from "./metrics";

export interface SubmitDeps {
  db: Db;
  kling: KlingClient;
  queue: Queue<SubmitPayload>;
  pauses: AccountPauseStore;
  logger: Logger;
  metrics: Pick<WorkerMetrics, "jobsFinished">;
  settings: {
    maxInFlight: number;
    slotPollMs: number;
    /**
     * At most this many submits of this process wait for a free slot at once (the worker's
     * concurrency - 1). The rest put their job back (BullMQ rate limit), so one BullMQ slot stays free for the
     * jobs that hold account slots and are due for a retry: otherwise waiters could occupy every
     * worker slot while the slot holders wait in BullMQ, and nothing would move.
     */
    maxSlotWaiters: number;
    accountPauseMs: number;
    /** How long a submit whose job row does not exist (yet) keeps being retried before it is dropped. */
    missingRowGraceMs: number;
    publicBaseUrl: string;
    callbackSecret: string;
  };
  /** Set when the worker is shutting down: a submit still waiting for a slot hands its job back. */
  closing: () => boolean;
}

const notFound = (r: KlingErrorResult) => r.httpStatus === 404 || r.code === 1203;

/**
 * The submit processor: moves one job `queued → submitting → submitted`. Safe to run twice for the
 * same job and safe to kill at any point: a job found in `submitting` first asks upstream whether a
 * task with its external_task_id exists and adopts it, so one job never gets two upstream tasks.
 */
export function createSubmitProcessor(deps: SubmitDeps) {
  const { db, kling, logger, settings } = deps;
  // Every transition below goes through these two, so each job this processor finishes is counted once.
  const applyJobEvent = countingFinished(applyJobEventInDb, deps.metrics.jobsFinished, "worker");
  const adoptCounted = countingFinished(adoptUpstreamTaskInDb, deps.metrics.jobsFinished, "worker");
  // The create answer (or a lookup) can already say the task finished: a chain's next step then
  // starts now rather than at the next sweep.
  const adoptUpstreamTask = async (...args: Parameters<typeof adoptUpstreamTaskInDb>) => {
    const result = await adoptCounted(...args);
    if (result.outcome === "changed" && result.followUps.length > 0) {
      await enqueueSubmits(deps.queue, result.followUps).catch((err: Error) =>
        logger.warn({ jobIds: result.followUps, err: err.message }, "enqueue of a chain's next step failed; the sweeper will"),
      );
    }
    return result;
  };

  async function handBack(bullJob: BullJob, token: string | undefined, delayMs: number): Promise<never> {
    await bullJob.moveToDelayed(Date.now() + delayMs, token);
    throw new DelayedError();
  }

  /** While the account is paused (1100–1102), every submit goes back to BullMQ until the pause ends. */
  async function handBackIfPaused(bullJob: BullJob, token: string | undefined): Promise<void> {
    const pause = await deps.pauses.current();
    if (pause) await handBack(bullJob, token, Math.max(0, Date.parse(pause.until) - Date.now()));
  }

  const claims = new ClaimBatcher(db, settings.maxInFlight);

  /** Waits for a free account slot and claims the job; null when the job is no longer queued. */
  let waiting = 0;
  async function claim(bullJob: BullJob, token: string | undefined, jobId: string): Promise<Job | null> {
    let counted = false;
    try {
      for (;;) {
        const outcome = await claims.claim(jobId);
        if (outcome !== "no_slot") return getJob(db, jobId); // claimed, or moved on by someone else
        if (deps.closing()) return await handBack(bullJob, token, 0);
        if (!counted) {
          if (waiting >= settings.maxSlotWaiters) {
            // No slot anywhere: every worker stops taking submits for a moment, and this job goes back
            // to the queue with its priority. (Delaying it instead would mix the order of the waiting
            // jobs, and a small tenant's jobs could wait behind a large tenant's: see fair share.)
            await deps.queue.rateLimit(settings.slotPollMs);
            throw Worker.RateLimitError();
          }
          waiting++;
          counted = true;
        }
        // Jitter so waiting submits across processes do not poll in lockstep.
        await sleep(settings.slotPollMs * (0.5 + Math.random()));
      }
    } finally {
      if (counted) waiting--;
    }
  }

  async function onVerdict(
    bullJob: BullJob,
    token: string | undefined,
    job: Job,
    verdict: UpstreamVerdict,
    result: KlingErrorResult,
  ): Promise<void> {
    const upstream = { http_status: result.httpStatus, code: result.code, message: result.message, request_id: result.requestId };
    switch (verdict.kind) {
      case "permanent": {
        if (verdict.alert) logger.error({ jobId: job.id, code: verdict.code }, "upstream refused our credentials or address: check the configuration");
        else logger.info({ jobId: job.id, code: verdict.code, message: verdict.message }, "upstream refused the job: failing it");
        await applyJobEvent(db, {
          jobId: job.id,
          event: { type: "submit_rejected" },
          source: "worker",
          payload: upstream,
          detail: `upstream ${verdict.code}: ${verdict.message}`,
          patch: (_row, to) => (to ? { errorCode: verdict.code, errorMessage: verdict.message } : {}),
        });
        return;
      }
      case "retry": {
        const attempts = bullJob.opts.attempts ?? JOB_CATALOG.submit.options.attempts;
        if (bullJob.attemptsMade + 1 >= attempts) {
          // Before giving up, make sure no earlier create landed (a timeout may hide a success).
          const found = job.externalTaskId ? await kling.getTask(job.externalTaskId) : null;
          if (found?.ok) {
            await adoptUpstreamTask(db, { jobId: job.id, task: found.data, source: "worker", detail: `adopted existing task ${found.data.task_id} (${job.externalTaskId})` });
            return;
          }
          logger.warn({ jobId: job.id, attempts, reason: verdict.reason }, "upstream kept failing: giving up on the job");
          await applyJobEvent(db, {
            jobId: job.id,
            event: { type: "submit_rejected" },
            source: "worker",
            payload: upstream,
            detail: `gave up after ${attempts} attempts: ${verdict.reason}`,
            patch: (_row, to) =>
              to ? { errorCode: ATTEMPTS_EXHAUSTED_CODE, errorMessage: `upstream kept failing (${attempts} attempts): ${verdict.reason}` } : {},
          });
          return;
        }
        await recordEvent(db, { jobId: job.id, source: "worker", type: "submit_retry", from: job.status, detail: verdict.reason, payload: upstream });
        throw new Error(`retryable upstream error: ${verdict.reason}`);
      }
      case "rate_limited":
        // Not a failure: the whole queue waits, this job goes back without using an attempt.
        await deps.queue.rateLimit(verdict.delayMs);
        throw Worker.RateLimitError();
      case "at_capacity":
        // Another client of the account holds the slots: wait for one to finish, no attempt used.
        await recordEvent(db, { jobId: job.id, source: "worker", type: "upstream_at_capacity", from: job.status, payload: upstream });
        return handBack(bullJob, token, verdict.delayMs);
      case "pause_account": {
        const pause = await deps.pauses.pause({ code: verdict.code, message: verdict.message, durationMs: settings.accountPauseMs });
        logger.error({ jobId: job.id, code: verdict.code, until: pause.until }, "upstream account blocked: submissions paused");
        await recordEvent(db, { jobId: job.id, source: "worker", type: "account_paused", from: job.status, detail: `${verdict.code}: ${verdict.message} (until ${pause.until})`, payload: upstream });
        await deps.queue.rateLimit(settings.accountPauseMs);
        throw Worker.RateLimitError();
      }
    }
  }

  /** One create call for a job in `submitting` (after checking upstream for an earlier one). */
  async function submit(bullJob: BullJob, token: string | undefined, job: Job): Promise<void> {
    const externalId = job.externalTaskId ?? `${job.id}-1`;
    if (job.attempts > 0) {
      // An earlier create may have reached upstream (crash, timeout, lost answer): look before sending again.
      const found = await kling.getTask(externalId);
      if (found.ok) {
        await adoptUpstreamTask(db, { jobId: job.id, task: found.data, source: "worker", detail: `adopted existing task ${found.data.task_id} (${externalId})` });
        return;
      }
      if (!notFound(found)) return onVerdict(bullJob, token, job, classifyUpstreamError(found), found);
    }
    // Checked again right before the create: this job may have claimed its slot, or come back from a
    // retry, after another submit paused the account.
    await handBackIfPaused(bullJob, token);
    const attempt = await recordSubmitAttempt(db, job.id);
    if (!attempt) return; // someone else moved it on (callback, cancel)
    const created = await kling.createTask({
      video_id: job.videoId,
      prompt: job.prompt,
      ...(job.negativePrompt !== null ? { negative_prompt: job.negativePrompt } : {}),
      ...(job.cfgScale !== null ? { cfg_scale: job.cfgScale } : {}),
      callback_url: callbackUrl(settings.publicBaseUrl, settings.callbackSecret, job.id),
      external_task_id: externalId,
    });
    if (created.ok) {
      await adoptUpstreamTask(db, { jobId: job.id, task: created.data, source: "worker", current: attempt });
      logger.info({ jobId: job.id, taskId: created.data.task_id }, "submitted upstream");
      return;
    }
    // "external_task_id already exists" means an earlier attempt's create did land.
    if (attempt.attempts > 1 && (created.code === 1200 || created.code === 1201)) {
      const found = await kling.getTask(externalId);
      if (found.ok) {
        await adoptUpstreamTask(db, { jobId: job.id, task: found.data, source: "worker", detail: `adopted existing task ${found.data.task_id} (${externalId})` });
        return;
      }
    }
    return onVerdict(bullJob, token, attempt, classifyUpstreamError(created), created);
  }

  return async function processSubmit(bullJob: BullJob, token?: string): Promise<void> {
    const { jobId } = SubmitPayloadSchema.parse(bullJob.data);
    let job = await getJob(db, jobId);
    if (job?.status === "queued") {
      await handBackIfPaused(bullJob, token);
      job = await claim(bullJob, token, jobId);
    }
    if (!job) {
      // The api enqueues a batch while it inserts it, so a fresh submit may arrive before its row is
      // committed: look again shortly. An old one is for a row that never came (the insert failed).
      if (Date.now() - bullJob.timestamp < settings.missingRowGraceMs) return handBack(bullJob, token, 1000);
      logger.warn({ jobId }, "submit for a job that does not exist; dropped");
      return;
    }
    if (job.status !== "submitting") return; // already upstream, finished or canceled: nothing to do
    await submit(bullJob, token, job);
  };
}
