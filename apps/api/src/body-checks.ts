// The bodies checked, and made ready for their route, where they are parsed: on the event loop for a
// small one, in the parse worker's thread for a big one (see body-parsing.ts), so that what the route
// gets does not depend on where it was done, and nothing is parsed or checked twice. A check returns
// plain data (it may cross threads) and says which of its buffers can be handed over uncopied.
import { BatchCreateSchema } from "@kex/contract";
// The module itself, not the package: the package's index loads the Prisma client, which the parse
// worker's thread has no use for (a second and 24 MB at its start).
import { encodeBatchItems, type EncodedBatchItems } from "@kex/db/src/batch-items";
import type { RoutingRequest } from "./account-routing";
import { batchCallbackUrls, type CallbackUrlField } from "./callback-urls";
import { parseOr400 } from "./errors";

/** A valid `POST /v1/batches` body as its route uses it: plain data, so another thread can build it. */
export interface CheckedBatch {
  /** The items, validated and encoded as `createBatch` inserts them. */
  items: EncodedBatchItems;
  /** The default for items that name none. */
  callbackUrl?: string;
  /** Every callback URL of the request with the field it came from, for the SSRF check. */
  callbackUrls: CallbackUrlField[];
  /** The batch's own label and JSON object. */
  name?: string;
  metadata?: Record<string, unknown>;
  /** Each item's account request (its own `account`, else the batch's) and source video, for `routeJobs`. */
  routing: RoutingRequest[];
}

/** Checks a parsed batch body against `BatchCreateSchema` (the 400 naming every bad field) and readies it. */
export function checkBatchBody(value: unknown): CheckedBatch {
  const body = parseOr400(BatchCreateSchema, value);
  return {
    items: encodeBatchItems(body.items),
    callbackUrl: body.callback_url,
    callbackUrls: batchCallbackUrls(body),
    name: body.name,
    metadata: body.metadata,
    routing: body.items.map((item, i) => ({
      named:
        item.account !== undefined
          ? { account: item.account, field: `items.${i}.account` }
          : body.account !== undefined
            ? { account: body.account, field: "account" }
            : undefined,
      videoId: item.video_id,
      videoField: `items.${i}.video_id`,
    })),
  };
}

/** The buffers among `views` that own their memory, which another thread can take instead of a copy. */
const ownedBuffers = (views: Uint8Array[]): ArrayBuffer[] =>
  views.filter((view) => view.byteOffset === 0 && view.byteLength === view.buffer.byteLength).map((view) => view.buffer as ArrayBuffer);

/** Each check by the name a route's body rules give (a function cannot be sent to a thread). */
export const BODY_CHECKS = {
  batch: { check: checkBatchBody, transfer: (batch: CheckedBatch) => ownedBuffers(batch.items.chunks.map((chunk) => chunk.json)) },
} as const;

export type BodyCheckName = keyof typeof BODY_CHECKS;
export type CheckedBody = ReturnType<(typeof BODY_CHECKS)[BodyCheckName]["check"]>;
