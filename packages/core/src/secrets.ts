import { createHash, timingSafeEqual } from "node:crypto";

/** Constant-time string comparison (hashing first so the length of the secret does not leak either). */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}
