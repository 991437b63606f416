import { loggableUrl, requestIdFor } from "./request-logging";

describe("loggableUrl", () => {
  it("drops the whole query string of webhook URLs (it carries the callback token)", () => {
    expect(loggableUrl("/webhooks/kling/0b7f6f8e-1111-4222-8333-444455556666?token=abc&x=1")).toBe(
      "/webhooks/kling/0b7f6f8e-1111-4222-8333-444455556666",
    );
    expect(loggableUrl("/webhooks?token=abc")).toBe("/webhooks");
  });

  it("keeps other query strings but hides parameters that look like credentials", () => {
    expect(loggableUrl("/v1/extensions?status=queued&limit=5")).toBe("/v1/extensions?status=queued&limit=5");
    expect(loggableUrl("/v1/extensions?access_token=s3cret&limit=5&api%5Fkey=k")).toBe(
      "/v1/extensions?access_token=[redacted]&limit=5&api%5Fkey=[redacted]",
    );
    expect(loggableUrl("/healthz")).toBe("/healthz");
  });
});

describe("requestIdFor", () => {
  it("keeps a sane incoming id", () => {
    expect(requestIdFor("req-123_abc.DEF:9")).toBe("req-123_abc.DEF:9");
  });

  it("replaces a missing, repeated, oversized or odd one with a UUID", () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const bad of [undefined, "", "has space", 'quote"', "x".repeat(129), "line\nbreak", ["a", "b"]]) {
      expect(requestIdFor(bad)).toMatch(uuid);
    }
  });
});
