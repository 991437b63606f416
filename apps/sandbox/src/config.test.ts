import { loadConfig } from "./config";

describe("sandbox config", () => {
  it("has the documented defaults for an empty environment", () => {
    expect(loadConfig({})).toEqual({
      port: 4010,
      host: "127.0.0.1",
      apiKey: "sandbox-key",
      accessKey: null,
      secretKey: null,
      pathPrefix: "/kling",
      publicUrl: null,
      maxConcurrency: 10,
    });
  });

  it("reads every knob", () => {
    const config = loadConfig({
      SANDBOX_PORT: "0",
      SANDBOX_PATH_PREFIX: "",
      SANDBOX_ACCESS_KEY: "ak",
      SANDBOX_SECRET_KEY: "sk",
      SANDBOX_MAX_CONCURRENCY: "0",
      SANDBOX_PROCESSING_DELAY_MS: "0",
      SANDBOX_COMPLETE_DELAY_MIN_MS: "1",
      SANDBOX_COMPLETE_DELAY_MAX_MS: "2",
      SANDBOX_FAILURE_RATE: "0.25",
      SANDBOX_ERROR_5XX_RATE: "0.1",
      SANDBOX_CALLBACK_DROP_RATE: "1",
      SANDBOX_CALLBACK_ON_SUBMITTED: "false",
      SANDBOX_ACCOUNT_ERROR: "1101",
      SANDBOX_SEED: "42",
    });
    expect(config).toMatchObject({
      port: 0,
      pathPrefix: "",
      accessKey: "ak",
      secretKey: "sk",
      maxConcurrency: 0,
      processingDelayMs: 0,
      completeDelayMinMs: 1,
      completeDelayMaxMs: 2,
      failureRate: 0.25,
      error5xxRate: 0.1,
      callbackDropRate: 1,
      callbackOnSubmitted: false,
      accountError: 1101,
      seed: 42,
    });
  });

  it("stops with a message naming each bad variable", () => {
    expect(() => loadConfig({ SANDBOX_PORT: "http", SANDBOX_FAILURE_RATE: "2" })).toThrow(
      /SANDBOX_PORT[\s\S]*SANDBOX_FAILURE_RATE|SANDBOX_FAILURE_RATE[\s\S]*SANDBOX_PORT/,
    );
    expect(() => loadConfig({ SANDBOX_ACCESS_KEY: "ak" })).toThrow(/set together/);
    expect(() => loadConfig({ SANDBOX_ACCOUNT_ERROR: "1200" })).toThrow(/SANDBOX_ACCOUNT_ERROR/);
  });
});
