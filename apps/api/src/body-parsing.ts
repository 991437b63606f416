import type { Readable, Transform } from "node:stream";
import { BATCH_MAX_ITEMS } from "@kex/contract";
import type { Request, RequestHandler } from "express";
import { BodyBytes, decoderFor, isContentEncoding, joinSegments, undecodable, type ContentEncoding } from "./body-bytes";
import { BODY_CHECKS, type BodyCheckName } from "./body-checks";
import { BoundedJsonParser, parseJsonBytes, tooLarge, type JsonBodyLimits } from "./bounded-json-parser";
import { ApiError } from "./errors";
import { ParseWorker } from "./parse-worker";
import { requestHash, requestHashPrefix } from "./request-hash";

export type { JsonBodyLimits } from "./bounded-json-parser";

/** How a route's JSON bodies are read: their limits, and the check that readies them for the route, if any. */
export interface JsonBodyRules extends JsonBodyLimits {
  /**
   * The route's body check (body-checks.ts). The body is checked and readied where it is parsed: on the
   * event loop when it is small, in the parse worker when it is compressed or big (see
   * `OFF_THREAD_MIN_BYTES`). An invalid one is refused there with the check's 400, before the route and
   * its Idempotency-Key; the route gets the readied body in `req.body`, never the parsed value, so the
   * event loop never parses or checks a big body.
   */
  check?: BodyCheckName;
}

/**
 * Below these sizes a body is parsed and checked on the event loop: a few milliseconds. Above, parsing
 * and checking go to the parse worker: 10,000 empty batch items are 30 KB, but checking them (20,000
 * problems) takes 60-120 ms; a 58 MB batch takes about a second to parse, check and encode.
 */
const OFF_THREAD_MIN_BYTES = 256 * 1024;
const OFF_THREAD_MIN_VALUES = 2_000;

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

/** A batch: up to `BATCH_MAX_ITEMS` items, within the configured byte limit (BODY_LIMIT); a big one is checked off the event loop. */
export const batchBodyLimits = (maxBytes: number): JsonBodyRules => ({ ...SHAPE, maxBytes, check: "batch" });

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

/** The body's Content-Encoding, when it is one the api reads (415 otherwise). */
function contentEncoding(req: Request): ContentEncoding {
  const encoding = (req.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (isContentEncoding(encoding)) return encoding;
  throw unsupportedMediaType("Content-Encoding", `Content-Encoding ${encoding} is not supported: send the body as is, or with gzip, deflate or br`);
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

/** A body as read: its value (as its check readied it, when the rules name one), and its request hash when asked. */
interface ReadBody {
  body: unknown;
  requestHash?: string;
}

/**
 * Reads a JSON body within `rules` (see `JsonBodyRules`): undefined when there is none, a 415 when
 * it is not UTF-8 JSON in a supported encoding, a 413 or 400 naming the limit at the first byte past
 * it. Scanned as the chunks arrive, so no request holds the event loop for long.
 */
export async function readJsonBody(req: Request, rules: JsonBodyRules): Promise<unknown> {
  return (await readBody(req, rules)).body;
}

/** The value on this thread: checked when the rules name a check, hashed when asked (an invalid body is not). */
function onThisThread(value: unknown, check: BodyCheckName | undefined, hashPrefix: string | undefined): ReadBody {
  const body = value === undefined || check === undefined ? value : BODY_CHECKS[check].check(value);
  return hashPrefix === undefined ? { body } : { body, requestHash: requestHash(hashPrefix, value) };
}

/**
 * `readJsonBody`, and with a check and a `worker`, a compressed body is inflated, and a big one parsed,
 * checked and hashed, in the worker. With `hashPrefix`, the body is hashed for its Idempotency-Key.
 */
async function readBody(req: Request, rules: JsonBodyRules, worker?: ParseWorker, hashPrefix?: string): Promise<ReadBody> {
  if (!announcesBody(req)) return onThisThread(undefined, undefined, hashPrefix);
  let encoding: ContentEncoding;
  try {
    checkMediaType(req);
    if (Number(req.headers["content-length"]) > rules.maxBytes) throw tooLarge(rules.maxBytes);
    encoding = contentEncoding(req);
  } catch (err) {
    discardRest(req, undefined);
    throw err;
  }
  const { check } = rules;
  if (check !== undefined && worker !== undefined && encoding !== "identity") {
    // Inflating is where a compressed body costs (61 KB can hold 60 MB): all of it happens in the worker.
    const sent = new BodyBytes();
    await readStream(req, undefined, encoding, (chunk) => {
      if (sent.length + chunk.length > rules.maxBytes) throw tooLarge(rules.maxBytes);
      sent.append(chunk);
    });
    return worker.check({ segments: sent.segmentsSoFar(), encoding, limits: rules, check, hashPrefix });
  }
  const decoder = decoderFor(encoding);
  const parser = new BoundedJsonParser(rules);
  await readStream(req, decoder, encoding, (chunk) => parser.write(chunk));
  const segments = parser.finish();
  if (segments !== undefined && check !== undefined && worker !== undefined && (parser.received >= OFF_THREAD_MIN_BYTES || parser.values >= OFF_THREAD_MIN_VALUES)) {
    return worker.check({ segments, encoding: "identity", limits: rules, check, hashPrefix, scanned: true });
  }
  return onThisThread(segments === undefined ? undefined : parseJsonBytes(joinSegments(segments)), check, hashPrefix);
}

/**
 * Feeds each chunk of the body (inflated by `decoder`, when there is one) to `take` as it arrives;
 * settles when the body has ended or was refused (`take` threw: the rest is then dropped).
 */
function readStream(req: Request, decoder: Transform | undefined, encoding: ContentEncoding, take: (chunk: Buffer) => void): Promise<void> {
  const source: Readable = decoder ? req.pipe(decoder) : req;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: unknown) => {
      if (settled) return;
      settled = true;
      source.off("data", onData).off("end", onEnd).off("error", onDecodeError);
      req.off("error", onAborted).off("close", onClose);
      if (err) {
        discardRest(req, decoder);
        reject(err);
      } else resolve();
    };
    const onData = (chunk: Buffer) => {
      try {
        take(chunk);
      } catch (err) {
        finish(err);
      }
    };
    const onEnd = () => finish(null);
    const onDecodeError = (err: Error) => finish(!decoder ? aborted() : undecodable(encoding, err));
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
 * the rules `rulesFor` picks for the request. `req.body` is undefined when there is no body, and as its
 * check readied it when the rules name one. A request with an Idempotency-Key has its body hashed here,
 * where it is parsed (in the worker for a big one), into `res.locals.requestHash` (`requestHashOf`).
 */
export function jsonBody(rulesFor: (req: Request) => JsonBodyRules): RequestHandler {
  const worker = new ParseWorker();
  return async (req, res, next) => {
    const read = await readBody(req, rulesFor(req), worker, requestHashPrefix(req));
    req.body = read.body;
    if (read.requestHash !== undefined) res.locals.requestHash = read.requestHash;
    next();
  };
}

/** For routes whose body is required: no body is the same 415 as a body that is not JSON. */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  if (req.body === undefined) throw unsupportedMediaType("Content-Type", NOT_JSON);
  next();
};
