import { IdParamSchema, JobStatusSchema } from "@kex/contract";
import { verifyCallbackToken, type NoChangeReason } from "@kex/core";
import { storableJson } from "@kex/db";
import type { Engine } from "@kex/engine";
import { KlingCallbackSchema } from "@kex/kling";
import { Router } from "express";
import { z } from "zod";
import { CALLBACK_BODY_LIMITS, readJsonBody } from "../body-parsing";
import { ApiError, notFound, parseOr400 } from "../errors";
import type { ApiMetrics, WebhookOutcome } from "../metrics";
import { open, TAGS } from "../openapi/operations";

/** A callback that says `succeed` must carry the result video, or there is nothing to record. */
export const CallbackBodySchema = KlingCallbackSchema.refine(
  (task) => task.task_status !== "succeed" || (task.task_result?.videos.length ?? 0) > 0,
  { message: "a succeed callback must carry task_result.videos[0]", path: ["task_result", "videos"] },
);

/** The answer to upstream: it only needs the 200; the rest is for whoever reads the logs or the event log. */
export const CallbackAckSchema = z
  .object({
    ok: z.literal(true),
    changed: z
      .boolean()
      .meta({ description: "false for duplicates, stale and out-of-order callbacks, and reports about a task the job does not follow (still logged as events)" }),
    status: JobStatusSchema.meta({ description: "the job's status after this callback" }),
    reason: z
      .enum(["duplicate", "stale", "terminal", "not_applicable"] as const satisfies readonly NoChangeReason[])
      .optional()
      .meta({ description: "why nothing changed" }),
  })
  .meta({ id: "CallbackAck" });

export interface WebhookRouteDeps {
  /** Applies the report, and what follows a finish (webhooks, a chain's next step, the finished metric). */
  engine: Engine;
  callbackSecret: string;
  metrics: Pick<ApiMetrics, "webhookDuration">;
}

/**
 * Upstream callbacks. Kling does not sign them, so the URL carries a per-job HMAC token. Thin on
 * purpose: verify, parse, record, transition, answer. Lines are logged through `req.log`, so each
 * carries the request id as well as the job id. Duplicates, stale and out-of-order callbacks, and
 * reports the job may not take (another task, a job not submitting, someone else's task id) answer
 * 200 and change nothing (the event log still records them). Upstream's text is stored, never
 * refused: what Postgres cannot hold is replaced, and fields we do not read are kept depth-capped.
 */
export function webhookRoutes(deps: WebhookRouteDeps): Router {
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
        // Depth-capped and made storable: the body's depth is the sender's choice, the log's is not.
        req.log.warn({ jobId, body: storableJson(req.body) }, "callback rejected: malformed body");
        throw err;
      }
      const result = await deps.engine.applyUpstreamReport({ jobId, task, source: "webhook", payload: req.body });
      if (result.outcome === "not_found") {
        outcome = "not_found";
        throw notFound("extension", jobId);
      }
      outcome = result.outcome;
      if (result.outcome === "changed") {
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

export const webhookOperations = [
  open.post("/webhooks/kling/:jobId", {
    operationId: "receiveKlingCallback",
    summary: "Upstream task callback",
    description:
      "Where Kling reports a task's progress. Kling does not sign callbacks, so the URL carries a per-job token. Duplicates, stale and out-of-order callbacks answer 200 and change nothing (the event log still records them).",
    tags: [TAGS.callbacks],
    params: {
      path: z.object({ jobId: IdParamSchema }),
      query: z.object({
        token: z
          .string()
          .meta({ description: "HMAC-SHA256(`CALLBACK_SECRET`, job id), base64url; part of the callback URL the worker gives upstream" }),
      }),
    },
    body: { schema: CallbackBodySchema, description: "the upstream task object, as Kling sends it" },
    ok: { status: 200, description: "recorded", schema: CallbackAckSchema },
    errors: { 401: "missing or invalid `token`", 404: "no such job", 503: true },
  }),
];
