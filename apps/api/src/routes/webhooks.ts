import { createHash } from "node:crypto";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { IdParamSchema, JobStatusSchema } from "@kex/contract";
import { verifyCallbackToken, type NoChangeReason } from "@kex/core";
import { findWebhookMessage, getJob, recordWebhookMessage, storableJson, type Db } from "@kex/db";
import type { Engine } from "@kex/engine";
import { KlingCallbackSchema, verifyCallbackSignature, type CallbackSignatureFailure } from "@kex/kling";
import { Router, type Request } from "express";
import { z } from "zod";
import { CALLBACK_BODY_LIMITS, readJsonBody } from "../body-parsing";
import { ApiError, notFound, parseOr400 } from "../errors";
import type { ApiMetrics, WebhookOutcome } from "../metrics";
import { open, TAGS } from "../openapi/operations";

/**
 * A callback in either of upstream's shapes (legacy or 3.x) and either spelling, read into one form by
 * packages/kling. One that says the task succeeded must carry the result video, or there is nothing to record.
 */
export const CallbackBodySchema = KlingCallbackSchema.refine(
  (task) => task.task_status !== "succeed" || (task.task_result?.videos.length ?? 0) > 0,
  { message: "a succeeded callback must carry its result video (task_result.videos[0], or outputs[] in the 3.x shape)", path: ["task_result", "videos"] },
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
  /** The seen `webhook-id`s of signed callbacks. */
  db: Db;
  callbackSecret: string;
  /**
   * The account's Standard Webhooks secrets (`whsec_…`; two during a rotation). Non-empty: every callback must
   * also carry a valid signature by one of them. Empty: callbacks are not signed, the URL token is enough.
   */
  webhookSecrets: readonly string[];
  metrics: Pick<ApiMetrics, "webhookDuration" | "callbackSignatureFailures">;
}

const SIGNATURE_HEADERS = ["webhook-id", "webhook-timestamp", "webhook-signature"] as const;

/** How a seen `webhook-id` is kept: as sent, or its sha256 when it is too long for an index entry. */
const WEBHOOK_ID_MAX_CHARS = 256;
export function webhookKey(webhookId: string): string {
  return webhookId.length <= WEBHOOK_ID_MAX_CHARS ? webhookId : `sha256:${createHash("sha256").update(webhookId).digest("hex")}`;
}

/**
 * The body's bytes as they arrive, for the signature (which covers the exact bytes): a second listener on the
 * request stream, beside the JSON reader's. Kept up to `maxBytes` (the JSON reader refuses anything longer).
 */
function tapBody(req: Request, maxBytes: number): () => Buffer | null {
  const chunks: Buffer[] = [];
  let length = 0;
  const onData = (chunk: Buffer) => {
    length += chunk.length;
    if (length <= maxBytes) chunks.push(chunk);
  };
  req.on("data", onData);
  return () => {
    req.off("data", onData);
    if (length > maxBytes) return null;
    const raw = Buffer.concat(chunks);
    // A signature covers the payload, not its transport encoding; the JSON reader has inflated it within the limit already.
    const encoding = (req.get("content-encoding") ?? "identity").trim().toLowerCase();
    const options = { maxOutputLength: maxBytes };
    if (encoding === "gzip") return gunzipSync(raw, options);
    if (encoding === "deflate") return inflateSync(raw, options);
    if (encoding === "br") return brotliDecompressSync(raw, options);
    return raw;
  };
}

const badSignature = (reason: CallbackSignatureFailure) =>
  new ApiError(401, "unauthorized", "missing or invalid webhook signature", [
    {
      field: "webhook-signature",
      rule: reason,
      message:
        reason === "missing"
          ? "signed callbacks are required: webhook-id, webhook-timestamp and webhook-signature must be present"
          : reason === "timestamp"
            ? "webhook-timestamp is not within 5 minutes of our clock"
            : "no signature matches the account's webhook secret",
    },
  ]);

/**
 * Upstream callbacks. The URL carries a per-job HMAC token, checked before the body is read; where the account
 * has a webhook secret, the callback must also carry a valid Standard Webhooks signature (checked over the raw
 * body), and a message whose `webhook-id` was applied before is dropped. Thin on
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
      const signed = deps.webhookSecrets.length > 0;
      const refuseSignature = (reason: CallbackSignatureFailure): never => {
        outcome = "bad_signature";
        deps.metrics.callbackSignatureFailures.inc({ reason });
        req.log.warn({ jobId, reason, ip: req.ip }, "callback rejected: bad or missing webhook signature");
        throw badSignature(reason);
      };
      // Unsigned while signatures are required: refused before a byte of the body is read.
      if (signed && SIGNATURE_HEADERS.some((name) => typeof req.headers[name] !== "string" || req.headers[name] === "")) refuseSignature("missing");
      const rawBody = signed ? tapBody(req, CALLBACK_BODY_LIMITS.maxBytes) : null;
      let body: unknown;
      try {
        body = await readJsonBody(req, CALLBACK_BODY_LIMITS);
      } catch (err) {
        outcome = "invalid";
        req.log.warn({ jobId }, "callback rejected: malformed body");
        throw err;
      }
      let messageKey: string | null = null;
      if (rawBody) {
        const check = verifyCallbackSignature(deps.webhookSecrets, rawBody() ?? Buffer.alloc(0), req.headers);
        if (!check.ok) refuseSignature(check.reason);
        else messageKey = webhookKey(check.webhookId);
      }
      if (messageKey !== null) {
        const seen = await findWebhookMessage(deps.db, messageKey);
        if (seen) {
          const job = await getJob(deps.db, jobId);
          if (!job) {
            outcome = "not_found";
            throw notFound("extension", jobId);
          }
          outcome = "duplicate";
          req.log.info({ jobId, firstJobId: seen.jobId, ms: elapsedMs() }, "callback dropped: its webhook-id was applied before");
          res.json({ ok: true, changed: false, status: job.status, reason: "duplicate" });
          return;
        }
      }
      req.body = body;
      let task: z.infer<typeof CallbackBodySchema>;
      try {
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
      // Applied (or found to change nothing): from now on this message is a duplicate.
      if (messageKey !== null) await recordWebhookMessage(deps.db, { webhookKey: messageKey, jobId, now: new Date() });
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
      "Where Kling reports a task's progress, in its legacy or 3.x body shape. The URL carries a per-job token, checked before the body is read. With `KLING_WEBHOOK_SECRETS` set, the callback must also carry a valid Standard Webhooks signature (`webhook-id`, `webhook-timestamp` within 5 minutes, `webhook-signature`: one or more space-separated `v1,<base64>`), and a message whose `webhook-id` was already applied answers 200 with `reason: duplicate` without being applied again. Duplicates, stale and out-of-order callbacks answer 200 and change nothing (the event log still records them).",
    tags: [TAGS.callbacks],
    params: {
      path: z.object({ jobId: IdParamSchema }),
      header: z.object({
        "webhook-id": z.string().optional().meta({ description: "Standard Webhooks message id; required when a webhook secret is configured" }),
        "webhook-timestamp": z.string().optional().meta({ description: "Unix seconds; accepted within 5 minutes of our clock" }),
        "webhook-signature": z.string().optional().meta({ description: "space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one per secret during a rotation" }),
      }),
      query: z.object({
        token: z
          .string()
          .meta({ description: "HMAC-SHA256(`CALLBACK_SECRET`, job id), base64url; part of the callback URL the worker gives upstream" }),
      }),
    },
    body: { schema: CallbackBodySchema, description: "the upstream task object, as Kling sends it: the legacy shape (`task_id`, `task_status`, …) or the 3.x one (`id`, `status`, `outputs`, `billing`, …), success spelled `succeed` or `succeeded`" },
    ok: { status: 200, description: "recorded", schema: CallbackAckSchema },
    errors: { 401: "missing or invalid `token`, or (with a webhook secret set) a missing, stale or wrong signature", 404: "no such job", 503: true },
  }),
];
