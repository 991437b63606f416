import { apiKeyMatches, generateApiKey, newWebhookSecret, parseApiKey, safeEqual } from "./secrets";

describe("safeEqual", () => {
  it.each([
    ["identical keys", "kex_live_abc123", "kex_live_abc123"],
    ["two empty strings", "", ""],
    ["identical multi-byte strings", "clé-é", "clé-é"],
  ])("true for %s", (_name, given, expected) => {
    expect(safeEqual(given, expected)).toBe(true);
  });

  it.each([
    ["one character different", "kex_live_abc123", "kex_live_abc124"],
    ["a prefix of the secret", "kex_live_abc", "kex_live_abc123"],
    ["the secret plus more", "kex_live_abc1234", "kex_live_abc123"],
    ["empty against a secret", "", "kex_live_abc123"],
    ["a secret against empty", "kex_live_abc123", ""],
    ["different case", "KEX_LIVE_ABC123", "kex_live_abc123"],
    ["trailing whitespace", "kex_live_abc123 ", "kex_live_abc123"],
    ["same length in characters, different bytes", "é", "e"],
  ])("false for %s", (_name, given, expected) => {
    expect(safeEqual(given, expected)).toBe(false);
  });

  it("does not throw on very different lengths", () => {
    expect(() => safeEqual("a", "b".repeat(10_000))).not.toThrow();
    expect(safeEqual("a", "b".repeat(10_000))).toBe(false);
  });
});

describe("API keys", () => {
  it("a generated key parses to its prefix and matches its own hash only", () => {
    const { key, prefix, hash } = generateApiKey();
    expect(parseApiKey(key)).toEqual({ prefix });
    expect(apiKeyMatches(key, hash)).toBe(true);
    expect(apiKeyMatches(`${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`, hash)).toBe(false);
    expect(apiKeyMatches(key, "00")).toBe(false);
    expect(parseApiKey("kex_short_x")).toBeNull();
  });

  it("webhook secrets are whsec_ and never repeat", () => {
    expect(newWebhookSecret()).toMatch(/^whsec_[A-Za-z0-9+/=]{32}$/);
    expect(newWebhookSecret()).not.toBe(newWebhookSecret());
  });
});
