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

  it("reads the account, callback, cost and download knobs", () => {
    const secret = `whsec_${Buffer.from("0123456789abcdef").toString("base64")}`;
    const config = loadConfig({
      SANDBOX_ID_PREFIX: "71",
      SANDBOX_IGNORE_EXTERNAL_TASK_ID: "true",
      SANDBOX_OTHER_CLIENT_SLOTS: "3",
      SANDBOX_STATUS_SPELLING: "succeeded",
      SANDBOX_CALLBACK_SHAPE: "v3",
      SANDBOX_FAIL_ON_CREATE_RATE: "0.5",
      SANDBOX_UNIT_DEDUCTION: "2.5",
      SANDBOX_BALANCE_DEDUCTION: "0.8, 1.0",
      SANDBOX_WEBHOOK_SECRETS: `${secret} ${secret}`,
      SANDBOX_CLOCK_OFFSET_MS: "-1000",
      SANDBOX_DOWNLOAD_DELAY_MS: "5",
      SANDBOX_DOWNLOAD_CHUNK_DELAY_MS: "6",
      SANDBOX_DOWNLOAD_ERROR_RATE: "0.1",
      SANDBOX_DOWNLOAD_TRUNCATE_RATE: "0.2",
      SANDBOX_DOWNLOAD_RESET_RATE: "0.3",
    });
    expect(config).toMatchObject({
      idPrefix: "71",
      ignoreExternalTaskId: true,
      otherClientSlots: 3,
      statusSpelling: "succeeded",
      callbackShape: "v3",
      failOnCreateRate: 0.5,
      unitDeduction: "2.5",
      balanceDeduction: { quota: "0.8", list_price: "1.0" },
      webhookSecrets: [secret, secret],
      clockOffsetMs: -1000,
      downloadDelayMs: 5,
      downloadChunkDelayMs: 6,
      downloadErrorRate: 0.1,
      downloadTruncateRate: 0.2,
      downloadResetRate: 0.3,
    });
  });

  it("names the variable of a bad account, cost or secret value", () => {
    expect(() => loadConfig({ SANDBOX_ID_PREFIX: "4041" })).toThrow(/SANDBOX_ID_PREFIX/);
    expect(() => loadConfig({ SANDBOX_UNIT_DEDUCTION: "one" })).toThrow(/SANDBOX_UNIT_DEDUCTION/);
    expect(() => loadConfig({ SANDBOX_BALANCE_DEDUCTION: "1" })).toThrow(/SANDBOX_BALANCE_DEDUCTION/);
    expect(() => loadConfig({ SANDBOX_WEBHOOK_SECRETS: "not-a-secret" })).toThrow(/SANDBOX_WEBHOOK_SECRETS/);
    expect(() => loadConfig({ SANDBOX_WEBHOOK_SECRETS: "whsec_secret-that-leaks" })).not.toThrow(/secret-that-leaks/);
    expect(() => loadConfig({ SANDBOX_STATUS_SPELLING: "success" })).toThrow(/SANDBOX_STATUS_SPELLING/);
  });

  it("stops with a message naming each bad variable", () => {
    expect(() => loadConfig({ SANDBOX_PORT: "http", SANDBOX_FAILURE_RATE: "2" })).toThrow(
      /SANDBOX_PORT[\s\S]*SANDBOX_FAILURE_RATE|SANDBOX_FAILURE_RATE[\s\S]*SANDBOX_PORT/,
    );
    expect(() => loadConfig({ SANDBOX_ACCESS_KEY: "ak" })).toThrow(/set together/);
    expect(() => loadConfig({ SANDBOX_ACCOUNT_ERROR: "1200" })).toThrow(/SANDBOX_ACCOUNT_ERROR/);
  });
});
