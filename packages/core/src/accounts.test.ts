import { AccountRegistry, AccountsConfigError, accountFromEnv, parseAccountsFile, routeToAccount, toPublicAccount } from "./accounts";

const env = { KLING_BASE_URL: "http://127.0.0.1:4010", KLING_PATH_PREFIX: "/kling", KLING_MAX_IN_FLIGHT: 10 };
const file = (accounts: unknown[], extra: object = {}) => JSON.stringify({ accounts, ...extra });
const a = { name: "a", mode: "static", api_key: "key-of-a", base_url: "https://proxy.example" };

describe("parseAccountsFile", () => {
  it("reads accounts with defaults and names the fallback", () => {
    const registry = parseAccountsFile(file([a, { name: "b", mode: "jwt", access_key: "ak", secret_key: "sk", base_url: "https://api.example", path_prefix: "", max_in_flight: 3, enabled: false }], { default: "a" }), { requireCredentials: true });
    expect(registry.defaultName).toBe("a");
    expect(registry.get("a")).toMatchObject({ pathPrefix: "/kling", maxInFlight: 10, enabled: true, auth: { mode: "static", apiKey: "key-of-a" } });
    expect(registry.get("b")).toMatchObject({ mode: "jwt", pathPrefix: "", maxInFlight: 3, enabled: false });
    expect(registry.secrets().sort()).toEqual(["ak", "key-of-a", "sk"]);
  });

  it("names the account and the field of every problem", () => {
    const bad = file([a, { name: "b", mode: "static", base_url: "https://x.example" }, { name: "c", mode: "jwt", access_key: "ak", base_url: "ftp://x", max_in_flight: -1 }], { default: "a" });
    let message = "";
    try {
      parseAccountsFile(bad, { requireCredentials: true });
    } catch (err) {
      expect(err).toBeInstanceOf(AccountsConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain('account "c" (accounts[2]).base_url');
    expect(message).toContain('account "c" (accounts[2]).max_in_flight');
    // Schema problems come first; credentials are checked once the shapes are right.
    const creds = file([a, { name: "b", mode: "static", base_url: "https://x.example" }, { name: "c", mode: "jwt", access_key: "ak", base_url: "https://x.example" }], { default: "a" });
    expect(() => parseAccountsFile(creds, { requireCredentials: true })).toThrow(/account "b" \(accounts\[1\]\)\.api_key: required for mode static[\s\S]*account "c" \(accounts\[2\]\)\.secret_key: mode jwt needs both/);
    // The api needs no credentials (but half a pair is still a mistake).
    const noCreds = file([a, { name: "b", mode: "static", base_url: "https://x.example" }], { default: "a" });
    expect(parseAccountsFile(noCreds, { requireCredentials: false }).get("b")!.auth).toBeNull();
    expect(() => parseAccountsFile(creds, { requireCredentials: false })).toThrow(/account "c" \(accounts\[2\]\)\.secret_key/);
  });

  it("refuses duplicate names, a missing default and malformed JSON", () => {
    expect(() => parseAccountsFile(file([a, a], { default: "a" }), { requireCredentials: true })).toThrow(/accounts\[1\]\)\.name: "a" is used by an earlier account/);
    expect(() => parseAccountsFile(file([a]), { requireCredentials: true })).toThrow(/default: no account is named "default"/);
    expect(() => parseAccountsFile(file([a], { default: "zz" }), { requireCredentials: true })).toThrow(/default: names "zz"/);
    expect(() => parseAccountsFile("{", { requireCredentials: true })).toThrow(/not valid JSON/);
  });
});

describe("accountFromEnv", () => {
  it("makes the single-account variables the account `default`", () => {
    expect(accountFromEnv({ ...env, KLING_API_KEY: "k" }, { requireCredentials: true })).toMatchObject({ name: "default", mode: "static", maxInFlight: 10 });
    expect(accountFromEnv({ ...env, KLING_ACCESS_KEY: "ak", KLING_SECRET_KEY: "sk" }, { requireCredentials: true }).auth).toEqual({ mode: "jwt", accessKey: "ak", secretKey: "sk" });
    expect(() => accountFromEnv(env, { requireCredentials: true })).toThrow(/KLING_API_KEY/);
  });
});

describe("routeToAccount and toPublicAccount", () => {
  const registry = new AccountRegistry(
    [
      { name: "default", mode: "static", auth: { mode: "static", apiKey: "secret-key" }, baseUrl: "u", pathPrefix: "", maxInFlight: 1, enabled: true, callbackSecrets: ["whsec_x"] },
      { name: "b", mode: "static", auth: null, baseUrl: "u", pathPrefix: "", maxInFlight: 1, enabled: true, callbackSecrets: [] },
      { name: "off", mode: "static", auth: null, baseUrl: "u", pathPrefix: "", maxInFlight: 1, enabled: false, callbackSecrets: [] },
    ],
    "default",
  );

  it("named, else the owner, else the default; conflicts, unknown and disabled accounts refused", () => {
    expect(routeToAccount(registry, {})).toEqual({ ok: true, account: "default" });
    expect(routeToAccount(registry, { owner: "b" })).toEqual({ ok: true, account: "b" });
    expect(routeToAccount(registry, { named: "b", owner: "b" })).toEqual({ ok: true, account: "b" });
    expect(routeToAccount(registry, { named: "default", owner: "b" })).toEqual({ ok: false, problem: { kind: "conflict", named: "default", owner: "b" } });
    expect(routeToAccount(registry, { named: "nope" })).toEqual({ ok: false, problem: { kind: "unknown", account: "nope", from: "request" } });
    expect(routeToAccount(registry, { owner: "off" })).toEqual({ ok: false, problem: { kind: "disabled", account: "off", from: "owner" } });
  });

  it("shows no credential or callback secret", () => {
    const text = JSON.stringify(registry.all().map(toPublicAccount));
    expect(text).not.toContain("secret-key");
    expect(text).not.toContain("whsec_");
  });
});
