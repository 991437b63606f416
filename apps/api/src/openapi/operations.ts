import { ErrorBodySchema, IdempotencyKeySchema, IdParamSchema } from "@kex/contract";
import { z } from "zod";
import type { ZodOpenApiOperationObject, ZodOpenApiParameters, ZodOpenApiResponsesObject } from "zod-openapi";

/**
 * How a route module declares its OpenAPI operations, next to its handlers: `v1.post("/extensions", spec)`
 * mirrors `router.post("/extensions", …)` mounted under `/v1`. The helpers add what every operation of
 * its kind shares (auth, error answers, idempotency headers); `document.ts` assembles the declarations.
 * apps/api/test/openapi.test.ts checks that every route of the app is declared and that real answers
 * validate against the declaration: a new route, status or field must be declared too.
 */

export type HttpMethod = "get" | "post";

/** One operation of the document: `path` in OpenAPI form (`/v1/extensions/{id}`). */
export interface ApiOperation {
  method: HttpMethod;
  path: string;
  operation: ZodOpenApiOperationObject;
}

export const JSON_MEDIA = "application/json";

/** The document's tags, in the order the document lists them. */
export const TAGS = {
  extensions: "Extensions",
  batches: "Batches",
  chains: "Chains",
  deliveries: "Webhook deliveries",
  keys: "Tenants and API keys",
  callbacks: "Upstream callbacks",
  ops: "Operations",
};

/** The answer of every error, with what each status means in this API; operations add their own detail. */
const ERRORS = {
  400: "`validation_failed` (every bad field in `details`, each with the `rule` it breaks) or `invalid_json`",
  401: "`unauthorized`: missing, invalid or revoked API key",
  403: "`forbidden`",
  404: "`not_found`",
  409: "`idempotency_conflict`: the `Idempotency-Key` was used with a different request; `idempotency_in_progress`: the first request with it is still running",
  413: "`payload_too_large`: the body is over the server's limit (`rule: too_large`, or `too_many_values`)",
  415: "`unsupported_media_type`: send the body as JSON with `Content-Type: application/json`",
  429: "`rate_limited`: over this tenant's request rate, or too many failed authentications from this address; retry after `Retry-After` seconds",
  500: "`internal_error`",
  503: "`unavailable`: Postgres is unreachable; retry after `Retry-After` seconds",
} as const;
type ErrorStatus = keyof typeof ERRORS;
type ErrorSpecs = Partial<Record<ErrorStatus, string | true>>;

/** The error answers of several sources in one: a status two sources give keeps both details. */
function mergeErrors(...sources: ErrorSpecs[]): ErrorSpecs {
  const merged: ErrorSpecs = {};
  for (const source of sources) {
    for (const [key, detail] of Object.entries(source) as [`${ErrorStatus}`, string | true][]) {
      const status = Number(key) as ErrorStatus;
      const before = merged[status];
      merged[status] =
        typeof before === "string" && typeof detail === "string"
          ? `${before}; ${detail}`
          : before === undefined || before === true
            ? detail
            : before;
    }
  }
  return merged;
}

const RetryAfterHeaders = z.object({ "Retry-After": z.string().meta({ description: "seconds" }) });

function errorResponses(errors: ErrorSpecs): ZodOpenApiResponsesObject {
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

export interface OperationSpec {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  params?: ZodOpenApiParameters;
  body?: { schema: z.ZodType; required?: boolean; description?: string };
  /** The success answer: status, what it is, its JSON schema (or another media type). */
  ok: { status: 200 | 201 | 202; description: string; schema: z.ZodType; media?: string };
  /** Error statuses this operation answers besides the ones every operation of its kind has. */
  errors?: ErrorSpecs;
  /** Another answer that is not an error body (e.g. readiness' 503). */
  also?: ZodOpenApiResponsesObject;
}

function operation(
  spec: OperationSpec,
  extra: { errors: ErrorSpecs; okHeaders?: z.ZodObject; params?: ZodOpenApiParameters },
): ZodOpenApiOperationObject {
  const params: ZodOpenApiParameters = { ...spec.params };
  for (const [where, schema] of Object.entries(extra.params ?? {}) as [keyof ZodOpenApiParameters, z.ZodObject][]) {
    params[where] = params[where] ? (params[where] as z.ZodObject).extend(schema.shape) : schema;
  }
  // Every body is read by one parser with one content-type rule; every path parameter is decoded.
  const bodyErrors: ErrorSpecs = spec.body ? { 400: true, 413: true, 415: true } : {};
  const pathErrors: ErrorSpecs = spec.params?.path
    ? { 400: "`rule: percent_encoding` for a path segment that is not valid percent-encoding" }
    : {};
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
      ...errorResponses(mergeErrors(bodyErrors, pathErrors, extra.errors, spec.errors ?? {}, { 500: true })),
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

/** `/extensions/:id` → `/extensions/{id}`. */
const openApiPath = (expressPath: string): string => expressPath.replace(/:(\w+)/g, "{$1}");

/**
 * Every `/v1` request's body is read when one is sent, whether or not the operation takes one: a body
 * that is not JSON is refused the same way everywhere.
 */
const ANY_BODY: ErrorSpecs = {
  400: "`invalid_json` for a body that is not JSON, when one is sent",
  413: true,
  415: "when a body is sent, it must be JSON like any other",
};

/** A `/v1` operation: bearer auth, rate limit, Postgres behind it; POSTs take an `Idempotency-Key`. */
function v1Operation(method: HttpMethod, path: string, spec: OperationSpec): ApiOperation {
  const post = method === "post";
  return {
    method,
    path: openApiPath(`/v1${path}`),
    operation: {
      ...operation(spec, {
        errors: { ...(spec.body ? {} : ANY_BODY), 401: true, 429: true, 503: true, ...(post ? { 409: true } : {}) },
        ...(post ? { params: { header: IdempotencyHeader }, okHeaders: ReplayedHeader } : {}),
      }),
      security: [{ bearer: [] }],
    },
  };
}

/** An operation outside `/v1`: no API key. */
function openOperation(method: HttpMethod, path: string, spec: OperationSpec): ApiOperation {
  return { method, path: openApiPath(path), operation: { ...operation(spec, { errors: {} }), security: [] } };
}

/** Operations of the routers mounted under `/v1`; `path` as the router has it. */
export const v1 = {
  get: (path: string, spec: OperationSpec) => v1Operation("get", path, spec),
  post: (path: string, spec: OperationSpec) => v1Operation("post", path, spec),
};

/** Operations without an API key; `path` from the root of the app. */
export const open = {
  get: (path: string, spec: OperationSpec) => openOperation("get", path, spec),
  post: (path: string, spec: OperationSpec) => openOperation("post", path, spec),
};

/** The `:id` path parameter of most routes. */
export const IdParams = z.object({ id: IdParamSchema });
