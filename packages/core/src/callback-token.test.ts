import { createHmac } from "node:crypto";
import { callbackToken, callbackUrl, verifyCallbackToken } from "./callback-token";

const SECRET = "s3cret-for-tests-only";
const JOB = "0b0c8f5e-6a3d-4c2b-9f1e-2d3c4b5a6f70";
const OTHER_JOB = "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6";

describe("callbackToken", () => {
  it("is deterministic per (secret, job id)", () => {
    expect(callbackToken(SECRET, JOB)).toBe(callbackToken(SECRET, JOB));
  });

  it("is the base64url HMAC-SHA256 of the job id (so it is URL-safe and 43 characters long)", () => {
    const token = callbackToken(SECRET, JOB);
    expect(token).toBe(createHmac("sha256", SECRET).update(JOB).digest("base64url"));
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("differs for another job and for another secret", () => {
    const token = callbackToken(SECRET, JOB);
    expect(callbackToken(SECRET, OTHER_JOB)).not.toBe(token);
    expect(callbackToken(`${SECRET}x`, JOB)).not.toBe(token);
  });
});

describe("verifyCallbackToken", () => {
  const good = callbackToken(SECRET, JOB);

  it("accepts the right token", () => {
    expect(verifyCallbackToken(SECRET, JOB, good)).toBe(true);
  });

  it.each([
    ["a wrong token of the same length", `${good.slice(0, -1)}${good.endsWith("A") ? "B" : "A"}`],
    ["an empty string", ""],
    ["undefined", undefined],
    ["null", null],
    ["an array holding the right token", [good]],
    ["a number", 42],
    ["the right token with a character more", `${good}A`],
    ["the right token with a character less", good.slice(0, -1)],
    ["a token of a multi-byte string with the same length in characters", "é".repeat(good.length)],
    ["the token of another job", callbackToken(SECRET, OTHER_JOB)],
    ["the token for this job under another secret", callbackToken("other-secret", JOB)],
  ])("rejects %s", (_name, token) => {
    expect(verifyCallbackToken(SECRET, JOB, token)).toBe(false);
  });
});

describe("callbackUrl", () => {
  const token = callbackToken(SECRET, JOB);

  it.each([
    ["http://api.example.com", `http://api.example.com/webhooks/kling/${JOB}?token=${token}`],
    ["http://api.example.com/", `http://api.example.com/webhooks/kling/${JOB}?token=${token}`],
    ["https://x.example:8443", `https://x.example:8443/webhooks/kling/${JOB}?token=${token}`],
    ["http://x/api", `http://x/api/webhooks/kling/${JOB}?token=${token}`],
    ["http://x/api/", `http://x/api/webhooks/kling/${JOB}?token=${token}`],
    ["http://x/a/b", `http://x/a/b/webhooks/kling/${JOB}?token=${token}`],
  ])("%s", (base, expected) => {
    expect(callbackUrl(base, SECRET, JOB)).toBe(expected);
  });

  it("carries a token that verifies for its job and not for another", () => {
    const url = new URL(callbackUrl("http://x/api", SECRET, JOB));
    expect(url.pathname).toBe(`/api/webhooks/kling/${JOB}`);
    const carried = url.searchParams.get("token");
    expect(verifyCallbackToken(SECRET, JOB, carried)).toBe(true);
    expect(verifyCallbackToken(SECRET, OTHER_JOB, carried)).toBe(false);
  });
});
