// The parse worker's thread (started by parse-worker.ts): reads a big or compressed JSON body within its
// limits (inflating it first), parses it and checks it against the route's schema, so that none of this
// costs the api's event loop. Only a valid body goes back.
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import { BatchCreateSchema } from "@kex/contract";
import { decoderFor, joinSegments, undecodable, type ContentEncoding } from "./body-bytes";
import { BoundedJsonParser, parseJsonBytes, type JsonBodyLimits } from "./bounded-json-parser";
import { ApiError, validationError } from "./errors";

/** The schemas a body can be checked against here, by name (a schema cannot be sent to a thread). */
const BODY_SCHEMAS = { batch: BatchCreateSchema } as const;
export type BodySchemaName = keyof typeof BODY_SCHEMAS;

export interface ParseTask {
  id: number;
  /** The body as sent (compressed or not), in transferred buffers. */
  segments: Uint8Array[];
  encoding: ContentEncoding;
  limits: JsonBodyLimits;
  schema: BodySchemaName;
}

export type ParseAnswer =
  | { id: number; ok: true; /** The whole body, inflated, transferred back for the route to parse; empty when there was none. */ body: Uint8Array }
  | { id: number; ok: false; error: Pick<ApiError, "status" | "code" | "message" | "details"> };

/** Inflates `segments` into `parser`, stopping at the first limit or byte that is not JSON. */
function readInto(parser: BoundedJsonParser, segments: Uint8Array[], encoding: ContentEncoding): Promise<void> {
  const decoder = decoderFor(encoding);
  const buffers = segments.map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength));
  if (!decoder) {
    for (const buffer of buffers) parser.write(buffer);
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    decoder.on("data", (chunk: Buffer) => {
      try {
        parser.write(chunk);
      } catch (err) {
        decoder.destroy();
        reject(err);
      }
    });
    decoder.once("end", resolve);
    decoder.once("error", (err) => reject(undecodable(encoding, err)));
    for (const buffer of buffers) decoder.write(buffer);
    decoder.end();
  });
}

/** The body as one buffer that owns its ArrayBuffer, so it can be transferred back. */
function ownBuffer(body: Buffer): Buffer {
  if (body.byteOffset === 0 && body.buffer.byteLength === body.length) return body;
  const own = Buffer.allocUnsafeSlow(body.length);
  body.copy(own);
  return own;
}

async function check(task: ParseTask): Promise<ParseAnswer> {
  try {
    const parser = new BoundedJsonParser(task.limits);
    await readInto(parser, task.segments, task.encoding);
    const segments = parser.finish();
    if (segments === undefined) return { id: task.id, ok: true, body: new Uint8Array(0) };
    const body = ownBuffer(joinSegments(segments));
    const parsed = BODY_SCHEMAS[task.schema].safeParse(parseJsonBytes(body));
    if (!parsed.success) throw validationError(parsed.error);
    return { id: task.id, ok: true, body };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { id: task.id, ok: false, error: { status: err.status, code: err.code, message: err.message, details: err.details } };
  }
}

const port = parentPort;
if (!port) throw new Error("parse-worker-thread.ts runs in a worker thread (see parse-worker.ts)");
// The lowest priority for this thread alone (Linux keeps a nice value per thread): when cores are short,
// the event loop that answers every tenant runs first, and a big body waits.
setPriority(19);
// One body at a time, in the order they came: the memory a body costs to parse is paid for one at once.
let queue = Promise.resolve();
port.on("message", (task: ParseTask) => {
  queue = queue.then(async () => {
    const answer = await check(task);
    port.postMessage(answer, answer.ok && answer.body.length > 0 ? [answer.body.buffer as ArrayBuffer] : []);
  });
});
