// The parse worker's thread (started by parse-worker.ts): parses a big JSON body and checks it against
// the route's schema, so that neither costs the api's event loop. Only a valid body comes back.
import { parentPort } from "node:worker_threads";
import { BatchCreateSchema } from "@kex/contract";
import { joinSegments, parseJsonBytes } from "./bounded-json-parser";
import { ApiError, validationError } from "./errors";

/** The schemas a body can be checked against here, by name (a schema cannot be sent to a thread). */
const BODY_SCHEMAS = { batch: BatchCreateSchema } as const;
export type BodySchemaName = keyof typeof BODY_SCHEMAS;

export interface ParseTask {
  id: number;
  /** The body, in transferred buffers (see `BoundedJsonParser.finish`). */
  segments: Uint8Array[];
  schema: BodySchemaName;
}

export type ParseAnswer =
  | { id: number; ok: true; /** The whole body, transferred back for the route to parse. */ body: Uint8Array }
  | { id: number; ok: false; error: Pick<ApiError, "status" | "code" | "message" | "details"> };

/** The body as one buffer that owns its ArrayBuffer, so it can be transferred back. */
function wholeBody(segments: Uint8Array[]): Buffer {
  const buffers = segments.map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength));
  const body = joinSegments(buffers);
  if (body.byteOffset === 0 && body.buffer.byteLength === body.length) return body;
  const own = Buffer.allocUnsafeSlow(body.length);
  body.copy(own);
  return own;
}

function check(task: ParseTask): ParseAnswer {
  const body = wholeBody(task.segments);
  try {
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
port.on("message", (task: ParseTask) => {
  const answer = check(task);
  port.postMessage(answer, answer.ok ? [answer.body.buffer as ArrayBuffer] : []);
});
