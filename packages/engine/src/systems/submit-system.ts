import { setTimeout as sleep } from "node:timers/promises";
import { callbackUrl, JOB_CATALOG, SubmitPayloadSchema, type Account } from "@kex/core";
import { getJob, insertJobEvent, recordSubmitAttempt, uncountSubmitAttempt, type Job } from "@kex/db";
import { classifyUpstreamError, type KlingClient, type KlingErrorResult, type UpstreamVerdict } from "@kex/kling";
import { DelayedError, Worker, type Job as BullJob } from "bullmq";
import type { Engine } from "../engine";
import { ATTEMPTS_EXHAUSTED_CODE } from "@kex/contract";
import type { UpstreamTaskReport } from "../upstream-report";
import { isBeingSubmitted, isWaitingForSubmit } from "../statuses";
import { ClaimSystem } from "./claim-system";
import type { WorkerResources } from "./systems";

export interface SubmitSettings {
  /** How often a submit waiting for a free slot looks again (SLOT_POLL_MS). */
  slotPollMs: number;
  /**
   * At most this many submits of this process wait for a free slot at once (the worker's
   * concurrency - 1; with several accounts, shared out evenly between the enabled ones). The rest put their job back (BullMQ rate limit), so one BullMQ slot stays free for the
   * jobs that hold account slots and are due for a retry: otherwise waiters could occupy every
   * worker slot while the slot holders wait in BullMQ, and nothing would move.
   */
  maxSlotWaiters: number;
  /** How long a job waits when its account is disabled or not configured on this worker, before it looks again. */
  unavailableAccountRetryMs?: number;
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
  /** One claim coalescer per account: slots are counted per account. */
  private readonly claims = new Map<string, ClaimSystem>();
  /** Submits of this process waiting for a free slot right now, per account. */
  private readonly waiting = new Map<string, number>();
  /** Per account: until when (ms) upstream's rate limit (1302) holds its submits back, as this process saw it. */
  private readonly rateLimitedUntil = new Map<string, number>();

  constructor(
    private readonly resources: WorkerResources,
    private readonly engine: Engine,
    private readonly settings: SubmitSettings,
    /** True once the worker is shutting down: a submit still waiting for a slot hands its job back. */
    private readonly closing: () => boolean,
  ) {}

  private claimsFor(account: Account): ClaimSystem {
    let claims = this.claims.get(account.name);
    if (!claims) {
      claims = new ClaimSystem(this.resources, account.name, account.maxInFlight);
      this.claims.set(account.name, claims);
    }
    return claims;
  }

  /** One account: the whole queue may wait for it (as before accounts). Several: only that account's jobs wait. */
  private get singleAccount(): boolean {
    return this.resources.accounts.names().length === 1;
  }

  /**
   * Holds this job (and, as far as the queue allows, its account) back for `delayMs` without using an
   * attempt. With one account the whole queue waits (a BullMQ rate limit: jobs keep their places, which
   * keeps fair share exact). With several, only this job goes back, delayed, so the other accounts'
   * jobs keep going; the account's other jobs find the same reason (pause, rate limit, no slot) when
   * their turn comes and go back too.
   */
  private async holdBack(bullJob: BullJob, token: string | undefined, delayMs: number): Promise<never> {
    if (this.singleAccount) {
      await this.resources.queue.rateLimit(delayMs);
      throw Worker.RateLimitError();
    }
    return handBack(bullJob, token, delayMs);
  }

  /** The BullMQ processor of the submit queue. */
  readonly process = async (bullJob: BullJob, token?: string): Promise<void> => {
    const { jobId } = SubmitPayloadSchema.parse(bullJob.data);
    let job = await getJob(this.resources.db, jobId);
    if (job && isWaitingForSubmit(job)) {
      const account = this.resources.accounts.get(job.account);
      if (!account?.enabled) {
        // Not sent anywhere until its account is back (enabled again, or configured on this worker).
        this.resources.logger.warn(
          { jobId, account: job.account },
          account ? "the job's account is disabled: it waits" : "the job's account is not configured on this worker: it waits",
        );
        return handBack(bullJob, token, this.settings.unavailableAccountRetryMs ?? 30_000);
      }
      await this.handBackIfHeld(bullJob, token, account.name);
      job = await this.claim(bullJob, token, account, jobId);
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

  /**
   * While the job's account is paused (1100–1102), every submit of that account goes back to BullMQ
   * until the pause ends; while upstream rate-limits it (1302), until that delay has passed.
   */
  private async handBackIfHeld(bullJob: BullJob, token: string | undefined, account: string): Promise<void> {
    const pause = await this.resources.pauses.current(account);
    if (pause) await handBack(bullJob, token, Math.max(0, Date.parse(pause.until) - Date.now()));
    const limitedMs = (this.rateLimitedUntil.get(account) ?? 0) - Date.now();
    if (limitedMs > 0) await this.holdBack(bullJob, token, limitedMs);
  }

  /** How many of this process's submits may wait for a slot of one account at once. */
  private maxWaitersPerAccount(): number {
    if (this.singleAccount) return this.settings.maxSlotWaiters;
    const enabled = this.resources.accounts.all().filter((a) => a.enabled).length;
    return Math.max(1, Math.floor(this.settings.maxSlotWaiters / Math.max(1, enabled)));
  }

  /** Waits for a free slot of the job's account and claims the job; null when the job is no longer queued. */
  private async claim(bullJob: BullJob, token: string | undefined, account: Account, jobId: string): Promise<Job | null> {
    const claims = this.claimsFor(account);
    let counted = false;
    try {
      for (;;) {
        const outcome = await claims.claim(jobId);
        if (outcome !== "no_slot") return getJob(this.resources.db, jobId); // claimed, or moved on by someone else
        if (this.closing()) return await handBack(bullJob, token, 0);
        if (!counted) {
          if ((this.waiting.get(account.name) ?? 0) >= this.maxWaitersPerAccount()) {
            // No slot of this account anywhere. With one account, every worker stops taking submits for
            // a moment and this job goes back to the queue with its priority (delaying it instead would
            // mix the order of the waiting jobs, and a small tenant's jobs could wait behind a large
            // tenant's: see fair share). With several, only this job goes back (holdBack).
            return await this.holdBack(bullJob, token, this.settings.slotPollMs * (this.singleAccount ? 1 : 1 + Math.random()));
          }
          this.waiting.set(account.name, (this.waiting.get(account.name) ?? 0) + 1);
          counted = true;
        }
        // Jitter so waiting submits across processes do not poll in lockstep.
        await sleep(this.settings.slotPollMs * (0.5 + Math.random()));
      }
    } finally {
      if (counted) this.waiting.set(account.name, (this.waiting.get(account.name) ?? 1) - 1);
    }
  }

  /**
   * The client of the job's account. A job past its claim keeps going on its account even if that was
   * disabled meanwhile (it holds a slot, and upstream may already have its task); an account missing
   * from this worker's configuration is a configuration error that retries until it is fixed.
   */
  private clientOf(job: Job): KlingClient {
    const client = this.resources.upstream(job.account);
    if (!client) throw new Error(`account "${job.account}" of job ${job.id} is not configured on this worker`);
    return client;
  }

  /** Adopts a task upstream already has for this job (found by its external_task_id). */
  private adoptExisting(job: Job, task: UpstreamTaskReport, externalId: string) {
    return this.engine.adoptUpstreamTask({ jobId: job.id, task, source: "worker", detail: `adopted existing task ${task.task_id} (${externalId})` });
  }

  private async onVerdict(
    bullJob: BullJob,
    token: string | undefined,
    job: Job,
    verdict: UpstreamVerdict,
    result: KlingErrorResult,
  ): Promise<void> {
    const { db, logger } = this.resources;
    const upstream = this.clientOf(job);
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
        // Not a failure: the account's submits wait, this job goes back without using an attempt.
        this.rateLimitedUntil.set(job.account, Date.now() + verdict.delayMs);
        return this.holdBack(bullJob, token, verdict.delayMs);
      case "at_capacity":
        // Another client of the account holds the slots: wait for one to finish, no attempt used.
        await insertJobEvent(db, { jobId: job.id, source: "worker", type: "upstream_at_capacity", from: job.status, payload: answer });
        return handBack(bullJob, token, verdict.delayMs);
      case "pause_account": {
        const pause = await this.resources.pauses.pause(job.account, {
          code: verdict.code,
          message: verdict.message,
          durationMs: this.settings.accountPauseMs,
        });
        logger.error(
          { jobId: job.id, account: job.account, code: verdict.code, until: pause.until },
          "upstream account blocked: its submissions paused",
        );
        await insertJobEvent(db, {
          jobId: job.id,
          source: "worker",
          type: "account_paused",
          from: job.status,
          detail: `${verdict.code}: ${verdict.message} (until ${pause.until})`,
          payload: answer,
        });
        return this.holdBack(bullJob, token, this.settings.accountPauseMs);
      }
    }
  }

  /** One create call for a job in `submitting` (after checking upstream for an earlier one). */
  private async submit(bullJob: BullJob, token: string | undefined, job: Job): Promise<void> {
    const { db, logger } = this.resources;
    const upstream = this.clientOf(job);
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
    await this.handBackIfHeld(bullJob, token, job.account);
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
