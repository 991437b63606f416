import { IdParamSchema, toValidationDetails, type ApiErrorCode, type ErrorBody, type ValidationDetail } from "@kex/contract";
import type { Logger } from "@kex/core";
import type { ErrorRequestHandler, Request, RequestHandler } from "express";
import { z } from "zod";

/** An error with a public meaning: HTTP status, a stable code (one of `API_ERROR_CODES`), a message safe to show. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: ValidationDetail[] | Record<string, unknown>,
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string) => new ApiError(404, "not_found", `${what} ${id} not found`);

/** The `:id` route parameter; anything that is not a uuid cannot exist, so it is a 404 like an unknown id. */
export function idParam(req: Request, what: string): string {
  const id = String(req.params.id);
  if (!IdParamSchema.safeParse(id).success) throw notFound(what, id);
  return id;
}

/**
 * The most problems one answer lists: a batch of 10,000 empty items has 20,000, which would make a 30 KB
 * request cost a 2 MB answer. The message still counts them all.
 */
export const MAX_ERROR_DETAILS = 100;

export function validationError(error: z.ZodError, where = "request body"): ApiError {
  const details = toValidationDetails(error.issues.length > MAX_ERROR_DETAILS ? new z.ZodError(error.issues.slice(0, MAX_ERROR_DETAILS)) : error);
  const total = error.issues.length;
  const first = details[0];
  const summary = first ? `${first.field}: ${first.message}` : "invalid";
  const more = total > 1 ? ` (and ${total - 1} more)` : "";
  return new ApiError(400, "validation_failed", `invalid ${where}: ${summary}${more}`, details);
}

/** Parses with a zod schema or throws a 400 naming every bad field. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, where?: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error, where);
  return parsed.data;
}

/**
 * Postgres unreachable or overloaded (pool exhausted, a transaction that could not start in time): the
 * request did nothing, and a retrying sender (upstream callbacks) should come back later.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const text = `${(err as { code?: string })?.code ?? ""} ${(err as Error)?.message ?? ""} ${String((err as { cause?: unknown })?.cause ?? "")}`;
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|P1001|P1002|P1017|P2024|Connection terminated|connection timeout|Can't reach database|the database system is (starting up|shutting down)|terminating connection|DatabaseNotReachable|P2028|Unable to start a transaction|timeout exceeded when trying to connect|too many clients/i.test(
    text,
  );
}

function malformedPath(err: URIError): ApiError {
  const message = `the path is not valid percent-encoding (${err.message})`;
  return new ApiError(400, "validation_failed", `invalid path: ${message}`, [{ field: "(path)", rule: "percent_encoding", message }]);
}

export const notFoundRoute: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, "route_not_found", `no route for ${req.method} ${req.path}`));
};

/** The one place errors become HTTP answers: 4xx for the client's mistakes, never a stack trace. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    // The request's logger when there is one (it carries the request id).
    const log = req.log ?? logger;
    let apiError: ApiError;
    if (err instanceof ApiError) apiError = err;
    // Express decodes path parameters when it matches a route; a segment that is not valid
    // percent-encoding cannot name anything, whichever router (api, /ui, /docs, callbacks) it reached.
    else if (err instanceof URIError) apiError = malformedPath(err);
    else if (err?.type === "entity.parse.failed") apiError = new ApiError(400, "invalid_json", `malformed JSON body: ${err.message}`);
    else if (err?.type === "entity.too.large") apiError = new ApiError(413, "payload_too_large", `request body is larger than the limit (${err.limit} bytes)`);
    else if (typeof err?.status === "number" && err.status >= 400 && err.status < 500 && err.expose)
      apiError = new ApiError(err.status, err.status === 415 ? "unsupported_media_type" : "bad_request", String(err.message));
    else if (isDatabaseUnavailable(err)) {
      log.error({ err: String(err?.message ?? err), path: req.path }, "database unavailable");
      apiError = new ApiError(503, "unavailable", "the database is unavailable; retry later");
      res.set("Retry-After", "5");
    } else {
      log.error({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err), path: req.path }, "unhandled error");
      apiError = new ApiError(500, "internal_error", "internal error");
    }
    res.status(apiError.status).json({
      error: { code: apiError.code, message: apiError.message, ...(apiError.details ? { details: apiError.details } : {}) },
    } satisfies ErrorBody);
  };
}
