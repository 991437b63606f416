import type { Readable, Transform } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { BATCH_MAX_ITEMS } from "@kex/contract";
import type { Request, RequestHandler } from "express";
import { BoundedJsonParser, tooLarge, type JsonBodyLimits } from "./bounded-json-parser";
import { ApiError } from "./errors";

export type { JsonBodyLimits } from "./bounded-json-parser";

/**
 * Shape limits every JSON body shares, each well past what any documented request needs: metadata is a
 * few levels deep, the longest array is a batch's items (metadata's 8 KB hold far fewer keys), the longest
 * string a prompt of 2,500 characters (10 KB at most in UTF-8), and a full batch with generous metadata holds
 * about 300,000 values. Without them a body within its byte limit could still hold 21 million `{}`
 * (seconds of parsing and gigabytes of heap), one 64 MB string, or nest deep enough to overflow a
 * recursive reader.
 */
const SHAPE = { maxDepth: 64, maxMembers: BATCH_MAX_ITEMS, maxValues: 1_000_000, maxStringBytes: 64 * 1024 } as const;

/** Every /v1 body but a batch: a chain of 40 steps with the longest prompts in 3-byte characters is ~0.6 MB. */
export const SINGLE_BODY_LIMITS: JsonBodyLimits = { ...SHAPE, maxBytes: 1024 * 1024 };

/**
 * An upstream callback is one task (status, message, a result video's id and URL): about 1 KB, a few KB
 * with long messages or signed URLs. 64 KB leaves room for that and keeps a flood of forged ones cheap.
 * No depth limit short of what the bytes allow: upstream's fields are not ours to refuse, and the
 * receiver reads only the top levels and stores the rest depth-capped (storableJson).
 */
export const CALLBACK_BODY_LIMITS: JsonBodyLimits = { ...SHAPE, maxBytes: 64 * 1024, maxDepth: 64 * 1024 };

/** A batch: up to `BATCH_MAX_ITEMS` items, within the configured byte limit (BODY_LIMIT). */
export const batchBodyLimits = (maxBytes: number): JsonBodyLimits => ({ ...SHAPE, maxBytes });

const unsupportedMediaType = (field: string, message: string): ApiError =>
  new ApiError(415, "unsupported_media_type", message, [{ field, rule: "unsupported", message }]);

const aborted = () => new ApiError(400, "bad_request", "the client stopped sending the body before it ended");

const NOT_JSON = "send the body as JSON with Content-Type: application/json";

/** A body is there when the request says so: a non-zero Content-Length, or chunks to come. */
function announcesBody(req: Request): boolean {
  if (req.headers["transfer-encoding"] !== undefined) return true;
  const length = req.headers["content-length"];
  return length !== undefined && length !== "0";
}

/** `application/json`, with no charset or UTF-8: anything else is refused before a byte is read. */
function checkMediaType(req: Request): void {
  if (!req.is("application/json")) throw unsupportedMediaType("Content-Type", NOT_JSON);
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(req.get("content-type") ?? "")?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    throw unsupportedMediaType("Content-Type", `charset ${charset} is not supported: JSON bodies are UTF-8 (${NOT_JSON})`);
  }
}

/** The decompressor for the body's Content-Encoding (none for `identity`): a stream, so the inflated size is capped as it grows. */
function decoderFor(req: Request): Transform | undefined {
  const encoding = (req.get("content-encoding") ?? "identity").trim().toLowerCase();
  switch (encoding) {
    case "identity":
      return undefined;
    case "gzip":
      return createGunzip();
    case "deflate":
      return createInflate();
    case "br":
      return createBrotliDecompress();
    default:
      throw unsupportedMediaType("Content-Encoding", `Content-Encoding ${encoding} is not supported: send the body as is, or with gzip, deflate or br`);
  }
}

/**
 * The rest of a refused body is read and dropped (not parsed, not inflated: cheap), so a client that
 * wrote its whole body before reading still gets the answer instead of a reset connection. One that
 * goes on sending past this much is cut off.
 */
const DISCARD_BUDGET_BYTES = 64 * 1024 * 1024;

function discardRest(req: Request, decoder: Transform | undefined): void {
  if (decoder) {
    req.unpipe(decoder);
    decoder.destroy();
  }
  let dropped = 0;
  req.on("data", (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DISCARD_BUDGET_BYTES) req.socket.destroy();
  });
  req.resume();
}

/**
 * Reads a JSON body within `limits` (see `JsonBodyLimits`): undefined when there is none, a 415 when
 * it is not UTF-8 JSON in a supported encoding, a 413 or 400 naming the limit at the first byte past
 * it. Parsed as the chunks arrive, so no request holds the event loop for long.
 */
export async function readJsonBody(req: Request, limits: JsonBodyLimits): Promise<unknown> {
  if (!announcesBody(req)) return undefined;
  let decoder: Transform | undefined;
  try {
    checkMediaType(req);
    if (Number(req.headers["content-length"]) > limits.maxBytes) throw tooLarge(limits.maxBytes);
    decoder = decoderFor(req);
  } catch (err) {
    discardRest(req, undefined);
    throw err;
  }
  return parseStream(req, decoder, new BoundedJsonParser(limits));
}

function parseStream(req: Request, decoder: Transform | undefined, parser: BoundedJsonParser): Promise<unknown> {
  const source: Readable = decoder ? req.pipe(decoder) : req;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: unknown, value?: unknown) => {
      if (settled) return;
      settled = true;
      source.off("data", onData).off("end", onEnd).off("error", onDecodeError);
      req.off("error", onAborted).off("close", onClose);
      if (err) {
        discardRest(req, decoder);
        reject(err);
      } else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      try {
        parser.write(chunk);
      } catch (err) {
        finish(err);
      }
    };
    const onEnd = () => {
      try {
        finish(null, parser.end());
      } catch (err) {
        finish(err);
      }
    };
    const onDecodeError = (err: Error) =>
      finish(!decoder ? aborted() : new ApiError(400, "invalid_json", `the body could not be decoded (${req.get("content-encoding")}): ${err.message}`));
    const onAborted = () => finish(aborted());
    const onClose = () => {
      if (!req.complete) finish(aborted());
    };
    source.on("data", onData).on("end", onEnd).on("error", onDecodeError);
    if (decoder) req.on("error", onAborted);
    req.on("close", onClose);
  });
}

/**
 * The one content-type rule for JSON routes: any body must be UTF-8 JSON (415 otherwise), read within
 * the limits `limitsFor` picks for the request. `req.body` is undefined when there is no body.
 */
export function jsonBody(limitsFor: (req: Request) => JsonBodyLimits): RequestHandler {
  return async (req, _res, next) => {
    req.body = await readJsonBody(req, limitsFor(req));
    next();
  };
}

/** For routes whose body is required: no body is the same 415 as a body that is not JSON. */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  if (req.body === undefined) throw unsupportedMediaType("Content-Type", NOT_JSON);
  next();
};
