import { Webhook } from "standardwebhooks";

/**
 * Signed callbacks (Standard Webhooks, docs/upstream-api.md#callbacks). Once an account owner creates a webhook
 * secret in Kling's console, every callback carries `webhook-id`, `webhook-timestamp` (Unix seconds, accepted
 * within ±5 minutes) and `webhook-signature` (space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
 * entries, one per secret while a secret is being rotated). Verified with the `standardwebhooks` library.
 */

/** Why a callback's signature was refused. */
export type CallbackSignatureFailure =
  /** `webhook-id`, `webhook-timestamp` or `webhook-signature` is absent (an unsigned callback). */
  | "missing"
  /** The timestamp is not a number, or more than 5 minutes from our clock. */
  | "timestamp"
  /** No entry of `webhook-signature` matches any of our secrets. */
  | "mismatch";

export type CallbackSignatureCheck = { ok: true; webhookId: string } | { ok: false; reason: CallbackSignatureFailure };

/** The three Standard Webhooks headers, as a request carries them (lower-case names; a repeated header is refused). */
export type SignatureHeaders = Record<string, string | string[] | undefined>;

const HEADER_NAMES = ["webhook-id", "webhook-timestamp", "webhook-signature"] as const;

/**
 * Throws unless `secret` is a usable Standard Webhooks secret (`whsec_` + base64 of at least one byte). The
 * message never contains the secret.
 */
export function assertWebhookSecret(secret: string): void {
  if (!secret.startsWith("whsec_")) throw new Error("a webhook secret must start with whsec_");
  try {
    new Webhook(secret);
  } catch {
    throw new Error("a webhook secret must be whsec_ followed by base64");
  }
}

/**
 * Checks a callback's Standard Webhooks signature against every secret of the account (one, or two during a
 * rotation): valid when any secret matches any signature entry, within the library's ±5 minute window.
 * `body` is the raw body as received: the signature covers its exact bytes.
 */
export function verifyCallbackSignature(secrets: readonly string[], body: Buffer | string, headers: SignatureHeaders): CallbackSignatureCheck {
  const given: Record<string, string> = {};
  for (const name of HEADER_NAMES) {
    const value = headers[name];
    if (typeof value !== "string" || value.length === 0) return { ok: false, reason: "missing" };
    given[name] = value;
  }
  let reason: CallbackSignatureFailure = "mismatch";
  for (const secret of secrets) {
    try {
      new Webhook(secret).verify(body, given, { jsonParse: false });
      return { ok: true, webhookId: given["webhook-id"]! };
    } catch (err) {
      if ((err as Error | null)?.name !== "WebhookVerificationError") throw err;
      // The time window does not depend on the secret: every secret would say the same.
      if ((err as Error).message !== "No matching signature found") {
        reason = "timestamp";
        break;
      }
    }
  }
  return { ok: false, reason };
}
