import { setTimeout as sleep } from "node:timers/promises";
import { callbackUrl, JOB_CATALOG, SubmitPayloadSchema } from "@kex/core";
import { getJob, insertJobEvent, recordSubmitAttempt, uncountSubmitAttempt, type Job } from "@kex/db";
import { classifyUpstreamError, type KlingErrorResult, type UpstreamVerdict } from "@kex/kling";
import { DelayedError, Worker, type Job as BullJob } from "bullmq";
import type { Engine } from "../engine";
import { ATTEMPTS_EXHAUSTED_CODE } from "@kex/contract";
import type { UpstreamTaskReport } from "../upstream-report";
import { isBeingSubmitted, isWaitingForSubmit } from "../statuses";
import { ClaimSystem } from "./claim-system";
import type { WorkerResources } from "./systems";

export interface SubmitSettings {
  /** The account's parallel-task cap (KLING_MAX_IN_FLIGHT; 0 = none). */
  maxInFlight: number;
  /** How often a submit waiting for a free slot looks again (SLOT_POLL_MS). */
  slotPollMs: number;
  /**
   * At most this many submits of this process wait for a free slot at once (the worker's
   * concurrency - 1). The rest put their job back (BullMQ rate limit), so one BullMQ slot stays free for the
   * jobs that hold account slots and are due for a retry: otherwise waiters could occupy every
   * worker slot while the slot holders wait in BullMQ, and nothing would move.
   */
  maxSlotWaiters: number;
  /** How long submissions stop after upstream blocks the account (ACCOUNT_PAUSE_MS). */
  accountPauseMs: number;
  /** How long a submit whose job row does not exist (yet) keeps being retried before it is dropped. */
  missingRowGraceMs: number;
  /** Base URL at which upstream reaches our callback receiver. */
  publicBaseUrl: string;
  /** HMAC key of the callback URL tokens. */
  callbackSecret: string;
}

const notFound = (r: KlingErrorResult) => r.httpStatus === 404 || r.code === 1203;

/** Thrown by a submit that gave its job back to BullMQ (delayed, or rate limited): BullMQ's own errors say which. */
async function handBack(bullJob: BullJob, token: string | undefined, delayMs: number): Promise<never> {
  await bullJob.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}

/**
 * The submit processor: moves one job `queued → submitting → submitted`. Safe to run twice for the
 * same job and safe to kill at any point: a job found in `submitting` first asks upstream whether a
 * task with its external_task_id exists and adopts it, so one job never gets two upstream tasks.
 */
export class SubmitSystem {
  private readonly claims: ClaimSystem;
  /** Submits of this process waiting for a free account slot right now. */
  private waiting = 0;

  constructor(
    private readonly resources: WorkerResources,
    private readonly engine: Engine,
    private readonly settings: SubmitSettings,
    /** True once the worker is shutting down: a submit still waiting for a slot hands its job back. */
    private readonly closing: () => boolean,
  ) {
    this.claims = new ClaimSystem(resources, settings.maxInFlight);
  }

  /** The BullMQ processor of the submit queue. */
  readonly process = async (bullJob: BullJob, token?: string): Promise<void> => {
    const { jobId } = SubmitPayloadSchema.parse(bullJob.data);
    let job = await getJob(this.resources.db, jobId);
    if (job && isWaitingForSubmit(job)) {
      await this.handBackIfPaused(bullJob, token);
      job = await this.claim(bullJob, token, jobId);
    }
    if (!job) {
      // The api enqueues a batch while it inserts it, so a fresh submit may arrive before its row is
      // committed: look again shortly. An old one is for a row that never came (the insert failed).
      if (Date.now() - bullJob.timestamp < this.settings.missingRowGraceMs) return handBack(bullJob, token, 1000);
      this.resources.logger.warn({ jobId }, "submit for a job that does not exist; dropped");
      return;
    }
    if (!isBeingSubmitted(job)) return; // already upstream, finished or canceled: nothing to do
    await this.submit(bullJob, token, job);
  };

  /** While the account is paused (1100–1102), every submit goes back to BullMQ until the pause ends. */
  private async handBackIfPaused(bullJob: BullJob, token: string | undefined): Promise<void> {
    const pause = await this.resources.pauses.current();
    if (pause) await handBack(bullJob, token, Math.max(0, Date.parse(pause.until) - Date.now()));
  }

  /** Waits for a free account slot and claims the job; null when the job is no longer queued. */
  private async claim(bullJob: BullJob, token: string | undefined, jobId: string): Promise<Job | null> {
    const { queue } = this.resources;
    let counted = false;
    try {
      for (;;) {
        const outcome = await this.claims.claim(jobId);
        if (outcome !== "no_slot") return getJob(this.resources.db, jobId); // claimed, or moved on by someone else
        if (this.closing()) return await handBack(bullJob, token, 0);
        if (!counted) {
          if (this.waiting >= this.settings.maxSlotWaiters) {
            // No slot anywhere: every worker stops taking submits for a moment, and this job goes back
            // to the queue with its priority. (Delaying it instead would mix the order of the waiting
            // jobs, and a small tenant's jobs could wait behind a large tenant's: see fair share.)
            await queue.rateLimit(this.settings.slotPollMs);
            throw Worker.RateLimitError();
          }
          this.waiting++;
          counted = true;
        }
        // Jitter so waiting submits across processes do not poll in lockstep.
        await sleep(this.settings.slotPollMs * (0.5 + Math.random()));
      }
    } finally {
      if (counted) this.waiting--;
    }
  }

  /** Adopts a task upstream already has for this job (found by its external_task_id). */
  private adoptExisting(job: Job, task: UpstreamTaskReport, externalId: string) {
    return this.engine.adoptUpstreamTask({ jobId: job.id, task, source: "worker", detail: `adopted existing task ${task.task_id} (${externalId})` });
  }

  private async onVerdict(bullJob: BullJob, token: string | undefined, job: Job, verdict: UpstreamVerdict, result: KlingErrorResult): Promise<void> {
    const { db, logger, queue, upstream } = this.resources;
    const answer = { http_status: result.httpStatus, code: result.code, message: result.message, request_id: result.requestId };
    switch (verdict.kind) {
      case "permanent": {
        if (verdict.alert) logger.error({ jobId: job.id, code: verdict.code }, "upstream refused our credentials or address: check the configuration");
        else logger.info({ jobId: job.id, code: verdict.code, message: verdict.message }, "upstream refused the job: failing it");
        await this.engine.applyEvent({
          jobId: job.id,
          event: { type: "submit_rejected", error: { code: verdict.code, message: verdict.message } },
          source: "worker",
          payload: answer,
          detail: `upstream ${verdict.code}: ${verdict.message}`,
        });
        return;
      }
      case "retry": {
        const attempts = bullJob.opts.attempts ?? JOB_CATALOG.submit.options.attempts;
        if (bullJob.attemptsMade + 1 >= attempts) {
          // Before giving up, make sure no earlier create landed (a timeout may hide a success).
          const found = job.externalTaskId ? await upstream.getTask(job.externalTaskId) : null;
          if (found?.ok) {
            await this.adoptExisting(job, found.data, job.externalTaskId!);
            return;
          }
          logger.warn({ jobId: job.id, attempts, reason: verdict.reason }, "upstream kept failing: giving up on the job");
          await this.engine.applyEvent({
            jobId: job.id,
            event: { type: "submit_rejected", error: { code: ATTEMPTS_EXHAUSTED_CODE, message: `upstream kept failing (${attempts} attempts): ${verdict.reason}` } },
            source: "worker",
            payload: answer,
            detail: `gave up after ${attempts} attempts: ${verdict.reason}`,
          });
          return;
        }
        await insertJobEvent(db, { jobId: job.id, source: "worker", type: "submit_retry", from: job.status, detail: verdict.reason, payload: answer });
        throw new Error(`retryable upstream error: ${verdict.reason}`);
      }
      case "rate_limited":
        // Not a failure: the whole queue waits, this job goes back without using an attempt.
        await queue.rateLimit(verdict.delayMs);
        throw Worker.RateLimitError();
      case "at_capacity":
        // Another client of the account holds the slots: wait for one to finish, no attempt used.
        await insertJobEvent(db, { jobId: job.id, source: "worker", type: "upstream_at_capacity", from: job.status, payload: answer });
        return handBack(bullJob, token, verdict.delayMs);
      case "pause_account": {
        const pause = await this.resources.pauses.pause({ code: verdict.code, message: verdict.message, durationMs: this.settings.accountPauseMs });
        logger.error({ jobId: job.id, code: verdict.code, until: pause.until }, "upstream account blocked: submissions paused");
        await insertJobEvent(db, {
          jobId: job.id,
          source: "worker",
          type: "account_paused",
          from: job.status,
          detail: `${verdict.code}: ${verdict.message} (until ${pause.until})`,
          payload: answer,
        });
        await queue.rateLimit(this.settings.accountPauseMs);
        throw Worker.RateLimitError();
      }
    }
  }

  /** One create call for a job in `submitting` (after checking upstream for an earlier one). */
  private async submit(bullJob: BullJob, token: string | undefined, job: Job): Promise<void> {
    const { db, logger, upstream } = this.resources;
    const externalId = job.externalTaskId ?? `${job.id}-1`;
    if (job.attempts > 0) {
      // An earlier create may have reached upstream (crash, timeout, lost answer): look before sending again.
      const found = await upstream.getTask(externalId);
      if (found.ok) {
        await this.adoptExisting(job, found.data, externalId);
        return;
      }
      if (!notFound(found)) return this.onVerdict(bullJob, token, job, classifyUpstreamError(found), found);
    }
    // Checked again right before the create: this job may have claimed its slot, or come back from a
    // retry, after another submit paused the account.
    await this.handBackIfPaused(bullJob, token);
    const attempt = await recordSubmitAttempt(db, job.id);
    if (!attempt) return; // someone else moved it on (callback, cancel)
    const created = await upstream.createTask({
      video_id: job.videoId,
      prompt: job.prompt,
      ...(job.negativePrompt !== null ? { negative_prompt: job.negativePrompt } : {}),
      ...(job.cfgScale !== null ? { cfg_scale: job.cfgScale } : {}),
      callback_url: callbackUrl(this.settings.publicBaseUrl, this.settings.callbackSecret, job.id),
      external_task_id: externalId,
    });
    if (created.ok) {
      await this.engine.adoptUpstreamTask({ jobId: job.id, task: created.data, source: "worker", current: attempt });
      logger.info({ jobId: job.id, taskId: created.data.task_id }, "submitted upstream");
      return;
    }
    // "external_task_id already exists" means an earlier attempt's create did land.
    if (attempt.attempts > 1 && (created.code === 1200 || created.code === 1201)) {
      const found = await upstream.getTask(externalId);
      if (found.ok) {
        await this.adoptExisting(job, found.data, externalId);
        return;
      }
    }
    const verdict = classifyUpstreamError(created);
    // A create refused at upstream's parallel-task limit made no task: it does not count, so the next
    // attempt sends the create again without first looking for a task (unless an earlier call may have made one).
    if (verdict.kind === "at_capacity") await uncountSubmitAttempt(db, job.id);
    return this.onVerdict(bullJob, token, attempt, verdict, created);
  }
}
