import { createLogger, secretRedactor } from "./logger";

describe("secretRedactor", () => {
  const redact = secretRedactor(["s3cret-token/with+chars\"q", "short"]);

  it("replaces a secret as written, JSON-escaped and percent-encoded", () => {
    expect(redact('{"a":"x s3cret-token/with+chars\\"q y"}')).toBe('{"a":"x [redacted] y"}');
    expect(redact(`{"url":"/p?q=${encodeURIComponent('s3cret-token/with+chars"q')}"}`)).toBe('{"url":"/p?q=[redacted]"}');
  });

  it("leaves values too short to be secrets alone", () => {
    expect(redact('{"msg":"short"}')).toBe('{"msg":"short"}');
  });
});

describe("createLogger with secrets", () => {
  it("never writes a configured secret, wherever it is in the line", () => {
    const lines: string[] = [];
    const logger = createLogger({ name: "t", destination: { write: (l: string) => void lines.push(l) }, secrets: ["the-api-token-0123"] });
    logger.info({ url: "/v1/x/the-api-token-0123", nested: { why: "the-api-token-0123" } }, "seen the-api-token-0123");
    expect(lines.join("")).not.toContain("the-api-token-0123");
    expect(JSON.parse(lines[0]!)).toMatchObject({ url: "/v1/x/[redacted]", nested: { why: "[redacted]" }, msg: "seen [redacted]" });
  });
});
