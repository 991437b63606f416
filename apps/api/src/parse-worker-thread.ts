// The parse worker's thread (started by parse-worker.ts): reads a big or compressed JSON body within its
// limits (inflating it first), parses it, checks it and readies it for its route (body-checks.ts), and
// hashes it for its Idempotency-Key, so that none of this costs the api's event loop. Only a valid body
// goes back, in the form its route uses.
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import { decoderFor, joinSegments, undecodable, type ContentEncoding } from "./body-bytes";
import { BODY_CHECKS, type BodyCheckName, type CheckedBody } from "./body-checks";
import { BoundedJsonParser, parseJsonBytes, type JsonBodyLimits } from "./bounded-json-parser";
import { ApiError } from "./errors";
import { requestHash } from "./request-hash";

export interface ParseTask {
  id: number;
  /** The body as sent (compressed or not), in transferred buffers. */
  segments: Uint8Array[];
  encoding: ContentEncoding;
  /**
   * The event loop already read this body (not compressed) within `limits`, as it arrived: it is only
   * parsed here, not scanned again (a quarter of a second for a 58 MB batch).
   */
  scanned?: boolean;
  limits: JsonBodyLimits;
  check: BodyCheckName;
  /** Hash the body for an Idempotency-Key, starting with this (`requestHashPrefix`). */
  hashPrefix?: string;
}

export type ParseAnswer =
  | {
      id: number;
      ok: true;
      /** The body as its check readied it, its buffers transferred; undefined when there was none. */
      body: CheckedBody | undefined;
      requestHash?: string;
    }
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

async function check(task: ParseTask): Promise<{ answer: ParseAnswer; transfer: ArrayBuffer[] }> {
  try {
    let value: unknown;
    if (task.scanned) value = parseJsonBytes(joinSegments(task.segments));
    else {
      const parser = new BoundedJsonParser(task.limits);
      await readInto(parser, task.segments, task.encoding);
      value = parser.end();
    }
    const checked = value === undefined ? undefined : BODY_CHECKS[task.check].check(value);
    const hash = task.hashPrefix === undefined ? undefined : requestHash(task.hashPrefix, value);
    const answer: ParseAnswer = { id: task.id, ok: true, body: checked, ...(hash === undefined ? {} : { requestHash: hash }) };
    return { answer, transfer: checked === undefined ? [] : BODY_CHECKS[task.check].transfer(checked) };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { answer: { id: task.id, ok: false, error: { status: err.status, code: err.code, message: err.message, details: err.details } }, transfer: [] };
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
    const { answer, transfer } = await check(task);
    port.postMessage(answer, transfer);
  });
});
