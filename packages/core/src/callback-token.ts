import { createHmac, timingSafeEqual } from "node:crypto";

/** The per-job secret in our upstream callback URL: Kling does not sign callbacks, so we authenticate the URL. */
export function callbackToken(secret: string, jobId: string): string {
  return createHmac("sha256", secret).update(jobId).digest("base64url");
}

/** Constant-time check of a callback token. */
export function verifyCallbackToken(secret: string, jobId: string, token: unknown): boolean {
  if (typeof token !== "string" || token.length === 0) return false;
  const expected = Buffer.from(callbackToken(secret, jobId));
  const given = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function callbackUrl(publicBaseUrl: string, secret: string, jobId: string): string {
  const url = new URL(`webhooks/kling/${jobId}`, publicBaseUrl.endsWith("/") ? publicBaseUrl : `${publicBaseUrl}/`);
  url.searchParams.set("token", callbackToken(secret, jobId));
  return url.toString();
}
