import { KLING_MAX_VIDEO_SECONDS, KLING_VIDEO_RETENTION_MS } from "@kex/kling";
import { Webhook } from "standardwebhooks";
import { z } from "zod";

/** Every knob of the sandbox. Defaults in `DEFAULT_SANDBOX_OPTIONS`; all of them can be changed at run time. */
export interface SandboxOptions {
  /** Route prefix: "/kling" imitates the proxy, "" the official API. Default "/kling". */
  pathPrefix: string;
  /** Static bearer key accepted (proxy mode). null = static keys refused. Default "sandbox-key". */
  apiKey: string | null;
  /** With `secretKey`: also accept HS256 JWTs `{iss: accessKey, exp, nbf}` (official mode). Default null. */
  accessKey: string | null;
  secretKey: string | null;
  /** Base of the video URLs the sandbox hands out. null = the server's own URL (or the request's Host). Default null. */
  publicUrl: string | null;

  /** Length of a never-seen 15-20 digit `video_id`, in seconds. Default 5.0. */
  sourceVideoSeconds: number;
  /** Seconds one extension adds. Default 4.5. */
  extendSeconds: number;
  /** A result longer than this is refused with 400/1201. Default 180. */
  maxVideoSeconds: number;
  /** Videos older than this are gone (404/1203). Default 30 days. */
  videoRetentionMs: number;

  /** submitted → processing after this long. Default 200 ms. */
  processingDelayMs: number;
  /** processing → finished after a random time in [min, max]. Defaults 300 and 800 ms. */
  completeDelayMinMs: number;
  completeDelayMaxMs: number;
  /** Probability a task ends `failed` instead of `succeed`. Default 0. */
  failureRate: number;
  /** `task_status_msg` of a failed task. Default "content risk control". */
  failureMessage: string;
  /** Parallel tasks allowed (a task holds a slot from create until it finishes); over it create answers 429/1303. 0 = unlimited. Default 10. */
  maxConcurrency: number;

  /** Also send a callback for the initial `submitted` state. Default true. */
  callbackOnSubmitted: boolean;
  /** Probability a callback is never sent. Default 0. */
  callbackDropRate: number;
  /** Probability a callback is delivered twice. Default 0. */
  callbackDuplicateRate: number;
  /** Probability a callback is held back until the task's next callback has been delivered. Default 0. */
  callbackReorderRate: number;
  /** Extra wait before each callback is sent, in ms. Default 0. */
  callbackDelayMs: number;
  /** [ours] Extra attempts after a failed delivery (connection error or non-2xx). Default 3. */
  callbackRetries: number;
  /** [ours] Wait before retry n is `callbackRetryBaseMs * 2^(n-1)`. Default 50 ms. */
  callbackRetryBaseMs: number;
  /** Give up on one delivery attempt after this long. Default 5000 ms. */
  callbackTimeoutMs: number;

  /** Probability create answers 500/5000, 503/5001 or 504/5002 without creating anything. Default 0. */
  error5xxRate: number;
  /** Probability create answers 429/1302. Default 0. */
  rateLimitRate: number;
  /** While set, every create answers 429 with this code. Default null. */
  accountError: 1100 | 1101 | 1102 | null;
  /** Wait before answering any API request (not /__sandbox, not /videos), in ms. Default 0. */
  responseDelayMs: number;
  /** Probability create makes the task but answers 500/5000 (a lost response). Default 0. */
  acceptThenFailRate: number;

  /**
   * This account's id prefix (1-6 digits, not starting with 404). When set, every task id and result video id this
   * sandbox makes starts with it, and an unseen `video_id` is a fresh source video only when it starts with it: an id
   * with another prefix belongs to another account and is refused with 404/1203, as upstream refuses extending a video
   * another account generated. null = any unseen 15-20 digit id is a fresh source. Default null.
   */
  idPrefix: string | null;
  /**
   * Behave like a proxy that drops `external_task_id`: the create answer does not echo it, a lookup by it finds
   * nothing (404/1203), duplicates are not refused, callbacks do not carry it. (The sandbox still counts tasks per
   * job from what the client sent, so `jobsWithMultipleTasks` keeps working.) Default false.
   */
  ignoreExternalTaskId: boolean;
  /** Slots of the account held by another client (web console, another service): create answers 1303 once our tasks plus these reach `maxConcurrency`. Default 0. */
  otherClientSlots: number;
  /** How a finished successful task is spelled in answers and legacy callbacks: "succeed" (legacy) or "succeeded" (newer surfaces). Default "succeed". */
  statusSpelling: "succeed" | "succeeded";
  /** Callback body: "legacy" (flat task object, `task_id`/`task_status`) or "v3" (`id`/`status`/`external_id`/`outputs`/`billing`). Default "legacy". */
  callbackShape: "legacy" | "v3";
  /** Probability create makes a task that is already `failed` and answers HTTP 200, code 0, with it. Default 0. */
  failOnCreateRate: number;
  /** `final_unit_deduction` of a successful task (a decimal string); failed tasks deduct "0". Default "1". */
  unitDeduction: string;
  /** When set, successful tasks also carry `final_balance_deduction` with these values. Default null. */
  balanceDeduction: { quota: string; list_price: string } | null;
  /**
   * Standard Webhooks secrets (`whsec_<base64>`). When any is set, callbacks carry `webhook-id`, `webhook-timestamp`
   * and `webhook-signature` with one `v1,<base64>` per secret, space-separated (two during a rotation). Default [].
   */
  webhookSecrets: string[];
  /** Added to `webhook-timestamp` (ms, may be negative): signs callbacks as if sent at another time. Default 0. */
  webhookTimestampOffsetMs: number;
  /** Added to the clock (ms): timestamps, JWT checks, video and URL expiry. Settable at run time. Default 0. */
  clockOffsetMs: number;

  /** Wait before answering a video download, in ms. Default 0. */
  downloadDelayMs: number;
  /** Wait between the 1 KB chunks of a video download, in ms (a slow download). Default 0. */
  downloadChunkDelayMs: number;
  /** Probability a video download answers 500. Default 0. */
  downloadErrorRate: number;
  /** Probability a video download announces the full Content-Length, sends half and drops the connection. Default 0. */
  downloadTruncateRate: number;
  /** Probability a video download's connection is reset before any answer. Default 0. */
  downloadResetRate: number;

  /** Seed of the PRNG behind every random decision and id. null = seeded from Math.random. Default null. */
  seed: number | null;
  /** Clock in Unix ms: timestamps, JWT checks and video expiry. Timers still run on real time. Default Date.now. */
  now: () => number;
}

export const DEFAULT_SANDBOX_OPTIONS: Readonly<SandboxOptions> = Object.freeze({
  pathPrefix: "/kling",
  apiKey: "sandbox-key",
  accessKey: null,
  secretKey: null,
  publicUrl: null,
  sourceVideoSeconds: 5.0,
  extendSeconds: 4.5,
  maxVideoSeconds: KLING_MAX_VIDEO_SECONDS,
  videoRetentionMs: KLING_VIDEO_RETENTION_MS,
  processingDelayMs: 200,
  completeDelayMinMs: 300,
  completeDelayMaxMs: 800,
  failureRate: 0,
  failureMessage: "content risk control",
  maxConcurrency: 10,
  callbackOnSubmitted: true,
  callbackDropRate: 0,
  callbackDuplicateRate: 0,
  callbackReorderRate: 0,
  callbackDelayMs: 0,
  callbackRetries: 3,
  callbackRetryBaseMs: 50,
  callbackTimeoutMs: 5000,
  error5xxRate: 0,
  rateLimitRate: 0,
  accountError: null,
  responseDelayMs: 0,
  acceptThenFailRate: 0,
  idPrefix: null,
  ignoreExternalTaskId: false,
  otherClientSlots: 0,
  statusSpelling: "succeed",
  callbackShape: "legacy",
  failOnCreateRate: 0,
  unitDeduction: "1",
  balanceDeduction: null,
  webhookSecrets: [],
  webhookTimestampOffsetMs: 0,
  clockOffsetMs: 0,
  downloadDelayMs: 0,
  downloadChunkDelayMs: 0,
  downloadErrorRate: 0,
  downloadTruncateRate: 0,
  downloadResetRate: 0,
  seed: null,
  now: Date.now,
});

const rate = z.number().min(0).max(1);
const ms = z.number().int().min(0);
const decimalString = z.string().regex(/^\d+(\.\d+)?$/, 'must be a decimal string like "1" or "0.5"');

/** A Standard Webhooks secret: `whsec_` and non-empty base64 (what the standardwebhooks library accepts). */
export const WebhookSecretSchema = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be "whsec_" followed by base64')
  .refine((secret) => {
    try {
      new Webhook(secret);
      return true;
    } catch {
      return false;
    }
  }, "must be base64 the standardwebhooks library can decode");

/** What `POST /__sandbox/options` accepts: any subset of the options except the clock. Unknown keys are refused. */
export const SandboxOptionsPatchSchema = z
  .object({
    pathPrefix: z.string().regex(/^(\/[\w.-]+)*$/, 'must be "" or like "/kling"'),
    apiKey: z.string().min(1).nullable(),
    accessKey: z.string().min(1).nullable(),
    secretKey: z.string().min(1).nullable(),
    publicUrl: z.url({ protocol: /^https?$/ }).nullable(),
    sourceVideoSeconds: z.number().positive(),
    extendSeconds: z.number().positive(),
    maxVideoSeconds: z.number().positive(),
    videoRetentionMs: ms,
    processingDelayMs: ms,
    completeDelayMinMs: ms,
    completeDelayMaxMs: ms,
    failureRate: rate,
    failureMessage: z.string(),
    maxConcurrency: z.number().int().min(0),
    callbackOnSubmitted: z.boolean(),
    callbackDropRate: rate,
    callbackDuplicateRate: rate,
    callbackReorderRate: rate,
    callbackDelayMs: ms,
    callbackRetries: z.number().int().min(0).max(20),
    callbackRetryBaseMs: ms,
    callbackTimeoutMs: z.number().int().positive(),
    error5xxRate: rate,
    rateLimitRate: rate,
    accountError: z.union([z.literal(1100), z.literal(1101), z.literal(1102)]).nullable(),
    responseDelayMs: ms,
    acceptThenFailRate: rate,
    idPrefix: z
      .string()
      .regex(/^\d{1,6}$/, "must be 1 to 6 digits")
      .refine((value) => !value.startsWith("404"), "must not start with 404 (ids starting with 404 never exist)")
      .nullable(),
    ignoreExternalTaskId: z.boolean(),
    otherClientSlots: z.number().int().min(0),
    statusSpelling: z.enum(["succeed", "succeeded"]),
    callbackShape: z.enum(["legacy", "v3"]),
    failOnCreateRate: rate,
    unitDeduction: decimalString,
    balanceDeduction: z.object({ quota: decimalString, list_price: decimalString }).strict().nullable(),
    webhookSecrets: z.array(WebhookSecretSchema).max(5),
    webhookTimestampOffsetMs: z.number().int(),
    clockOffsetMs: z.number().int(),
    downloadDelayMs: ms,
    downloadChunkDelayMs: ms,
    downloadErrorRate: rate,
    downloadTruncateRate: rate,
    downloadResetRate: rate,
    seed: z.number().int().nullable(),
  })
  .partial()
  .strict();
export type SandboxOptionsPatch = z.infer<typeof SandboxOptionsPatchSchema>;

/** Merges a patch and checks what only the whole can tell. Throws with a readable message. */
export function mergeOptions(current: SandboxOptions, patch: Partial<SandboxOptions>): SandboxOptions {
  const { now, ...rest } = patch;
  // A key present with value undefined means "leave as is" (what spreading a Partial produces).
  const data = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined));
  const parsed = SandboxOptionsPatchSchema.safeParse(data);
  if (!parsed.success) throw new Error(`invalid sandbox options: ${z.prettifyError(parsed.error)}`);
  const merged: SandboxOptions = { ...current, ...parsed.data };
  if (now) merged.now = now;
  if (merged.completeDelayMinMs > merged.completeDelayMaxMs) {
    throw new Error("invalid sandbox options: completeDelayMinMs must not exceed completeDelayMaxMs");
  }
  if ((merged.accessKey === null) !== (merged.secretKey === null)) {
    throw new Error("invalid sandbox options: accessKey and secretKey must be set together");
  }
  return merged;
}

/** Options as JSON (the clock left out, secrets shown only as "[set]"). */
export function describeOptions(
  options: SandboxOptions,
): Omit<SandboxOptions, "now" | "secretKey" | "webhookSecrets"> & { secretKey: string | null; webhookSecrets: string[] } {
  const { now: _now, secretKey, webhookSecrets, ...rest } = options;
  return { ...rest, secretKey: secretKey === null ? null : "[set]", webhookSecrets: webhookSecrets.map(() => "[set]") };
}
