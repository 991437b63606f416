import { IdParamSchema, verifyCallbackToken } from "@kex/core";
import { applyUpstreamReport, type Db } from "@kex/db";
import { KlingCallbackSchema } from "@kex/kling";
import { countFinished } from "@kex/metrics";
import { Router } from "express";
import { z } from "zod";
import { CALLBACK_BODY_LIMITS, readJsonBody } from "../body-parsing";
import { ApiError, notFound, parseOr400 } from "../errors";
import type { ApiMetrics, WebhookOutcome } from "../metrics";

/** A callback that says `succeed` must carry the result video, or there is nothing to record. */
export const CallbackBodySchema = KlingCallbackSchema.refine(
  (task) => task.task_status !== "succeed" || (task.task_result?.videos.length ?? 0) > 0,
  { message: "a succeed callback must carry task_result.videos[0]", path: ["task_result", "videos"] },
);

export interface WebhookRouteDeps {
  db: Db;
  callbackSecret: string;
  metrics: Pick<ApiMetrics, "jobsFinished" | "webhookDuration">;
  /** Enqueues jobs a callback created (a chain's next step); failures are left to the sweeper. */
  enqueue?: (jobIds: readonly string[]) => Promise<void>;
}

/**
 * Upstream callbacks. Kling does not sign them, so the URL carries a per-job HMAC token. Thin on
 * purpose: verify, parse, record, transition, answer. Lines are logged through `req.log`, so each
 * carries the request id as well as the job id. Duplicates, stale and out-of-order callbacks
 * answer 200 and change nothing (the event log still records them).
 */
export function webhookRoutes(deps: WebhookRouteDeps): Router {
  const { db } = deps;
  const router = Router();

  router.post("/kling/:jobId", async (req, res) => {
    const jobId = String(req.params.jobId);
    const started = process.hrtime.bigint();
    const elapsedMs = () => Number(process.hrtime.bigint() - started) / 1e6;
    let outcome: WebhookOutcome = "error";
    try {
      if (!verifyCallbackToken(deps.callbackSecret, jobId, req.query.token)) {
        outcome = "unauthorized";
        req.log.warn({ jobId, ip: req.ip }, "callback rejected: bad or missing token");
        throw new ApiError(401, "unauthorized", "missing or invalid callback token");
      }
      if (!IdParamSchema.safeParse(jobId).success) {
        outcome = "not_found";
        throw notFound("extension", jobId);
      }
      let task: z.infer<typeof CallbackBodySchema>;
      try {
        req.body = await readJsonBody(req, CALLBACK_BODY_LIMITS);
        task = parseOr400(CallbackBodySchema, req.body, "callback body");
      } catch (err) {
        outcome = "invalid";
        req.log.warn({ jobId, body: req.body }, "callback rejected: malformed body");
        throw err;
      }
      const result = countFinished(
        deps.metrics.jobsFinished,
        await applyUpstreamReport(db, { jobId, task, source: "webhook", payload: req.body }),
        "webhook",
      );
      if (result.outcome === "not_found") {
        outcome = "not_found";
        throw notFound("extension", jobId);
      }
      outcome = result.outcome;
      if (result.outcome === "changed") {
        if (result.followUps.length > 0 && deps.enqueue) {
          await deps.enqueue(result.followUps).catch((err: Error) => req.log.warn({ jobIds: result.followUps, err: err.message }, "enqueue failed; the sweeper will"));
        }
        req.log.info({ jobId, taskId: task.task_id, from: result.from, to: result.to, ms: elapsedMs() }, "callback applied");
        res.json({ ok: true, changed: true, status: result.to });
      } else {
        req.log.info({ jobId, taskId: task.task_id, upstream: task.task_status, reason: result.reason, ms: elapsedMs() }, "callback changed nothing");
        res.json({ ok: true, changed: false, status: result.job.status, reason: result.reason });
      }
    } finally {
      deps.metrics.webhookDuration.observe({ outcome }, elapsedMs() / 1000);
    }
  });

  return router;
}
