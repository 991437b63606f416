import {
  ApiKeyCreatedSchema,
  ApiKeyListSchema,
  ApiKeyResourceSchema,
  BATCH_MAX_ITEMS,
  BatchCanceledSchema,
  BatchCreatedSchema,
  BatchCreateSchema,
  BatchResourceSchema,
  CHAIN_MAX_STEPS,
  ChainCreateSchema,
  ChainResourceSchema,
  DeliveryListSchema,
  DeliveryResourceSchema,
  ErrorBodySchema,
  ExtensionCreateSchema,
  IdempotencyKeySchema,
  IdParamSchema,
  JobEventListSchema,
  JobListSchema,
  JobResourceSchema,
  ListExtensionsQuerySchema,
  TenantCreatedSchema,
  TenantResourceSchema,
  WebhookSecretSchema,
} from "@kex/core";
import { z } from "zod";
import {
  createDocument,
  type oas31,
  type ZodOpenApiOperationObject,
  type ZodOpenApiParameters,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponsesObject,
} from "zod-openapi";
import { KeyCreateSchema, TenantCreateSchema } from "../routes/keys";
import { CallbackBodySchema } from "../routes/webhooks";
import { CallbackAckSchema, HealthSchema, ReadinessSchema } from "./schemas";

/**
 * The OpenAPI 3.1 document of this API, generated from the zod schemas the routes parse requests with
 * (packages/core `schemas.ts`, the routes' own) and the response schemas the resource types are inferred
 * from (packages/core `resource-schemas.ts`). apps/api/test/openapi.test.ts checks that every route of the
 * app is described here and that real responses validate against it: a new route, status or field
 * must be described here too.
 */

export type HttpMethod = "get" | "post";

const JSON_MEDIA = "application/json";

/** The answer of every error, with what each status means in this API; operations add their own detail. */
const ERRORS = {
  400: "`validation_failed` (every bad field in `details`) or `invalid_json`",
  401: "`unauthorized`: missing, invalid or revoked API key",
  403: "`forbidden`",
  404: "`not_found`",
  409: "`idempotency_conflict`: the `Idempotency-Key` was used with a different request; `idempotency_in_progress`: the first request with it is still running",
  413: "`payload_too_large`: the body is over the server's limit",
  415: "`unsupported_media_type`: send the body as JSON with `Content-Type: application/json`",
  429: "`rate_limited`: over this tenant's request rate; retry after `Retry-After` seconds",
  500: "`internal_error`",
  503: "`unavailable`: Postgres is unreachable; retry after `Retry-After` seconds",
} as const;
type ErrorStatus = keyof typeof ERRORS;

const RetryAfterHeaders = z.object({ "Retry-After": z.string().meta({ description: "seconds" }) });

function errorResponses(errors: Partial<Record<ErrorStatus, string | true>>): ZodOpenApiResponsesObject {
  const responses: ZodOpenApiResponsesObject = {};
  for (const [key, detail] of Object.entries(errors)) {
    const status = Number(key) as ErrorStatus;
    responses[`${status}`] = {
      description: detail === true ? ERRORS[status] : `${ERRORS[status]}: ${detail}`,
      content: { [JSON_MEDIA]: { schema: ErrorBodySchema } },
      ...(status === 429 || status === 503 ? { headers: RetryAfterHeaders } : {}),
    };
  }
  return responses;
}

interface OperationSpec {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  params?: ZodOpenApiParameters;
  body?: { schema: z.ZodType; required?: boolean; description?: string };
  /** The success answer: status, what it is, its JSON schema (or another media type). */
  ok: { status: 200 | 201 | 202; description: string; schema: z.ZodType; media?: string };
  /** Error statuses this operation answers besides the ones every operation of its kind has. */
  errors?: Partial<Record<ErrorStatus, string | true>>;
  /** Another answer that is not an error body (e.g. readiness' 503). */
  also?: ZodOpenApiResponsesObject;
}

function operation(
  spec: OperationSpec,
  extra: { errors: Partial<Record<ErrorStatus, string | true>>; okHeaders?: z.ZodObject; params?: ZodOpenApiParameters },
): ZodOpenApiOperationObject {
  const params: ZodOpenApiParameters = { ...spec.params };
  for (const [where, schema] of Object.entries(extra.params ?? {}) as [keyof ZodOpenApiParameters, z.ZodObject][]) {
    params[where] = params[where] ? (params[where] as z.ZodObject).extend(schema.shape) : schema;
  }
  const bodyErrors: Partial<Record<ErrorStatus, true>> = spec.body ? { 400: true, 413: true } : {};
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: spec.tags,
    ...(Object.keys(params).length > 0 ? { requestParams: params } : {}),
    ...(spec.body
      ? {
          requestBody: {
            required: spec.body.required ?? true,
            ...(spec.body.description ? { description: spec.body.description } : {}),
            content: { [JSON_MEDIA]: { schema: spec.body.schema } },
          },
        }
      : {}),
    responses: {
      [`${spec.ok.status}`]: {
        description: spec.ok.description,
        content: { [spec.ok.media ?? JSON_MEDIA]: { schema: spec.ok.schema } },
        ...(extra.okHeaders ? { headers: extra.okHeaders } : {}),
      },
      ...spec.also,
      ...errorResponses({ ...bodyErrors, ...extra.errors, ...spec.errors, 500: true }),
    },
  };
}

const IdempotencyHeader = z.object({
  "Idempotency-Key": IdempotencyKeySchema.optional().meta({
    description:
      "Makes the POST safe to retry: the same key with the same request answers the first answer again (with `Idempotent-Replayed: true`); with a different request, 409. Keys are per tenant and kept 24 h.",
  }),
});
const ReplayedHeader = z.object({
  "Idempotent-Replayed": z
    .literal("true")
    .optional()
    .meta({ description: "present when this is the stored answer of an earlier request with the same `Idempotency-Key`" }),
});

/** A `/v1` operation: bearer auth, rate limit, Postgres behind it; POSTs take an `Idempotency-Key`. */
function v1(method: HttpMethod, spec: OperationSpec): ZodOpenApiOperationObject {
  const post = method === "post";
  return {
    ...operation(spec, {
      errors: { 401: true, 429: true, 503: true, ...(post ? { 409: true } : {}) },
      ...(post ? { params: { header: IdempotencyHeader }, okHeaders: ReplayedHeader } : {}),
    }),
    security: [{ bearer: [] }],
  };
}

/** An operation outside `/v1`: no API key. */
function open(spec: OperationSpec): ZodOpenApiOperationObject {
  return { ...operation(spec, { errors: {} }), security: [] };
}

const IdParams = z.object({ id: IdParamSchema });
const TAGS = {
  extensions: "Extensions",
  batches: "Batches",
  chains: "Chains",
  deliveries: "Webhook deliveries",
  keys: "Tenants and API keys",
  callbacks: "Upstream callbacks",
  ops: "Operations",
};

const paths: ZodOpenApiPathsObject = {
  "/v1/extensions": {
    post: v1("post", {
      operationId: "createExtension",
      summary: "Extend one video",
      tags: [TAGS.extensions],
      body: { schema: ExtensionCreateSchema },
      ok: { status: 202, description: "the job, stored and queued", schema: JobResourceSchema },
      errors: { 415: true },
    }),
    get: v1("get", {
      operationId: "listExtensions",
      summary: "List jobs, newest first",
      description: "Cursor pagination: follow `next_cursor` until it is null.",
      tags: [TAGS.extensions],
      params: { query: ListExtensionsQuerySchema },
      ok: { status: 200, description: "one page of jobs", schema: JobListSchema },
      errors: { 400: "a bad filter, limit or cursor" },
    }),
  },
  "/v1/extensions/{id}": {
    get: v1("get", {
      operationId: "getExtension",
      summary: "Get one job",
      tags: [TAGS.extensions],
      params: { path: IdParams },
      ok: { status: 200, description: "the job", schema: JobResourceSchema },
      errors: { 404: "no such job for this tenant" },
    }),
  },
  "/v1/extensions/{id}/events": {
    get: v1("get", {
      operationId: "getExtensionEvents",
      summary: "The job's event log",
      description: "Every callback, poll and decision, oldest first, whether or not it changed anything.",
      tags: [TAGS.extensions],
      params: { path: IdParams },
      ok: { status: 200, description: "the events", schema: JobEventListSchema },
      errors: { 404: "no such job for this tenant" },
    }),
  },
  "/v1/extensions/{id}/cancel": {
    post: v1("post", {
      operationId: "cancelExtension",
      summary: "Cancel a job that has not finished",
      tags: [TAGS.extensions],
      params: { path: IdParams },
      ok: { status: 200, description: "the canceled job", schema: JobResourceSchema },
      errors: { 404: "no such job for this tenant", 409: "or `already_finished`: the job is final (its status in `details.status`)" },
    }),
  },
  "/v1/batches": {
    post: v1("post", {
      operationId: "createBatch",
      summary: `Extend up to ${BATCH_MAX_ITEMS.toLocaleString("en")} videos at once`,
      description: "Validated all or nothing: a 400 names every bad item by index (`items.3.prompt`) and stores nothing.",
      tags: [TAGS.batches],
      body: { schema: BatchCreateSchema },
      ok: { status: 202, description: "the batch and its job ids, stored and queued", schema: BatchCreatedSchema },
      errors: { 415: true },
    }),
  },
  "/v1/batches/{id}": {
    get: v1("get", {
      operationId: "getBatch",
      summary: "A batch's progress",
      tags: [TAGS.batches],
      params: { path: IdParams },
      ok: { status: 200, description: "the batch with its jobs counted by status", schema: BatchResourceSchema },
      errors: { 404: "no such batch for this tenant" },
    }),
  },
  "/v1/batches/{id}/cancel": {
    post: v1("post", {
      operationId: "cancelBatch",
      summary: "Cancel every job of a batch that has not finished",
      tags: [TAGS.batches],
      params: { path: IdParams },
      ok: { status: 200, description: "the batch after canceling", schema: BatchCanceledSchema },
      errors: { 404: "no such batch for this tenant", 409: "or `already_finished`: every job is final (`details.counts`)" },
    }),
  },
  "/v1/chains": {
    post: v1("post", {
      operationId: "createChain",
      summary: "Extend a video several times in a row",
      description: `Step n extends step n-1's result video; at most ${CHAIN_MAX_STEPS} steps (upstream refuses videos over 3 minutes). A failed step stops the chain; \`retry\` resumes it from that step.`,
      tags: [TAGS.chains],
      body: { schema: ChainCreateSchema },
      ok: { status: 202, description: "the chain, its first step queued", schema: ChainResourceSchema },
      errors: { 415: true },
    }),
  },
  "/v1/chains/{id}": {
    get: v1("get", {
      operationId: "getChain",
      summary: "A chain with each step's latest job",
      tags: [TAGS.chains],
      params: { path: IdParams },
      ok: { status: 200, description: "the chain", schema: ChainResourceSchema },
      errors: { 404: "no such chain for this tenant" },
    }),
  },
  "/v1/chains/{id}/retry": {
    post: v1("post", {
      operationId: "retryChain",
      summary: "Resume a failed chain from the step that failed",
      tags: [TAGS.chains],
      params: { path: IdParams },
      ok: { status: 202, description: "the chain, the failed step queued again", schema: ChainResourceSchema },
      errors: {
        404: "no such chain for this tenant",
        409: "or `chain_not_failed` (only a failed chain resumes), `video_too_long` (the next step would pass 3 minutes)",
      },
    }),
  },
  "/v1/extensions/{id}/deliveries": {
    get: v1("get", {
      operationId: "listExtensionDeliveries",
      summary: "The webhooks sent (or being sent) about a job",
      tags: [TAGS.deliveries],
      params: { path: IdParams },
      ok: { status: 200, description: "the deliveries with their attempts", schema: DeliveryListSchema },
      errors: { 404: "no such job for this tenant" },
    }),
  },
  "/v1/batches/{id}/deliveries": {
    get: v1("get", {
      operationId: "listBatchDeliveries",
      summary: "The webhooks sent (or being sent) about a batch and its jobs",
      tags: [TAGS.deliveries],
      params: { path: IdParams },
      ok: { status: 200, description: "the deliveries with their attempts", schema: DeliveryListSchema },
      errors: { 404: "no such batch for this tenant" },
    }),
  },
  "/v1/deliveries/{id}/redeliver": {
    post: v1("post", {
      operationId: "redeliver",
      summary: "Send a webhook again, now",
      tags: [TAGS.deliveries],
      params: { path: IdParams },
      ok: { status: 202, description: "the delivery, due now", schema: DeliveryResourceSchema },
      errors: { 404: "no such delivery for this tenant" },
    }),
  },
  "/v1/webhook-secret": {
    get: v1("get", {
      operationId: "getWebhookSecret",
      summary: "The tenant's webhook signing secret",
      tags: [TAGS.deliveries],
      ok: { status: 200, description: "the secret (created on first use)", schema: WebhookSecretSchema },
    }),
  },
  "/v1/tenants": {
    post: v1("post", {
      operationId: "createTenant",
      summary: "Create a tenant and its first API key (admin token only)",
      tags: [TAGS.keys],
      body: { schema: TenantCreateSchema },
      ok: { status: 201, description: "the tenant, its webhook secret and its first key", schema: TenantCreatedSchema },
      errors: { 403: "only the admin token (API_TOKEN) creates tenants" },
    }),
  },
  "/v1/tenant": {
    get: v1("get", {
      operationId: "getTenant",
      summary: "The caller's tenant",
      tags: [TAGS.keys],
      ok: { status: 200, description: "the tenant", schema: TenantResourceSchema },
      errors: { 404: true },
    }),
  },
  "/v1/keys": {
    post: v1("post", {
      operationId: "createApiKey",
      summary: "Create an API key",
      description: "For the caller's tenant; the admin token may name another `tenant_id`. The key is in this answer only.",
      tags: [TAGS.keys],
      body: { schema: KeyCreateSchema, required: false },
      ok: { status: 201, description: "the key, with its secret", schema: ApiKeyCreatedSchema },
      errors: { 403: "a tenant key can only create keys for its own tenant", 404: "no such tenant" },
    }),
    get: v1("get", {
      operationId: "listApiKeys",
      summary: "List the tenant's API keys, newest first",
      tags: [TAGS.keys],
      params: {
        query: z.object({ tenant_id: z.uuid().optional().meta({ description: "admin token only: another tenant's keys" }) }),
      },
      ok: { status: 200, description: "the keys (without their secrets)", schema: ApiKeyListSchema },
      errors: { 404: "no such tenant" },
    }),
  },
  "/v1/keys/{id}/revoke": {
    post: v1("post", {
      operationId: "revokeApiKey",
      summary: "Revoke an API key",
      description: "Takes effect within the key cache period (a few seconds). Revoking twice keeps the first time.",
      tags: [TAGS.keys],
      params: { path: IdParams },
      ok: { status: 200, description: "the revoked key", schema: ApiKeyResourceSchema },
      errors: { 404: "no such key for this tenant" },
    }),
  },
  "/webhooks/kling/{jobId}": {
    post: open({
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
  },
  "/healthz": {
    get: open({
      operationId: "health",
      summary: "Liveness",
      tags: [TAGS.ops],
      ok: { status: 200, description: "the process answers", schema: HealthSchema },
    }),
  },
  "/readyz": {
    get: open({
      operationId: "readiness",
      summary: "Readiness: Postgres and Redis answer and the upstream account is not paused",
      tags: [TAGS.ops],
      ok: { status: 200, description: "ready", schema: ReadinessSchema },
      also: { "503": { description: "not ready: `checks` says why", content: { [JSON_MEDIA]: { schema: ReadinessSchema } } } },
    }),
  },
  "/metrics": {
    get: open({
      operationId: "metrics",
      summary: "Prometheus metrics",
      description: "Unauthenticated like /healthz: keep it off the public internet.",
      tags: [TAGS.ops],
      ok: { status: 200, description: "Prometheus text exposition format", schema: z.string(), media: "text/plain" },
    }),
  },
  "/openapi.json": {
    get: open({
      operationId: "openApiDocument",
      summary: "This document",
      tags: [TAGS.ops],
      ok: { status: 200, description: "OpenAPI 3.1", schema: z.record(z.string(), z.unknown()) },
    }),
  },
  "/docs": {
    get: open({
      operationId: "apiReference",
      summary: "This document as a web page (Swagger UI, served from this server)",
      tags: [TAGS.ops],
      ok: { status: 200, description: "HTML", schema: z.string(), media: "text/html" },
    }),
  },
};

const DESCRIPTION = `Bulk AI video extension through the Kling API: each job is submitted upstream exactly once, within the
account's parallel-task limit, and every state change is recorded.

All bodies are JSON, snake_case. Every \`/v1\` route needs \`Authorization: Bearer <api key>\`. Every error answers
\`{"error": {"code", "message", "details?"}}\` with a 4xx or 5xx status; bad input never yields a 5xx.

Job states: \`queued → submitting → submitted → processing → succeeded | failed | canceled\`.`;

/** Builds the document (pure: the same schemas give the same document). */
export function createOpenApiDocument(): oas31.OpenAPIObject {
  return createDocument({
    openapi: "3.1.0",
    info: { title: "kling-orchestrator API", version: "1.0.0", description: DESCRIPTION },
    tags: Object.values(TAGS).map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "`API_TOKEN` (admin) or a tenant API key `kex_<prefix>_<secret>`" },
      },
      // Names of the request bodies. Response schemas name themselves with `.meta({ id })`: zod-openapi
      // renders a schema listed here for requests and for responses, which suits request bodies only.
      schemas: {
        ExtensionCreate: ExtensionCreateSchema,
        BatchCreate: BatchCreateSchema,
        ChainCreate: ChainCreateSchema,
        TenantCreate: TenantCreateSchema,
        ApiKeyCreate: KeyCreateSchema,
      },
    },
  });
}
