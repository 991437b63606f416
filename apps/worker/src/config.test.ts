import { queueBackendSettings } from "@kex/queue";
import { loadWorkerConfig, WorkerConfigSchema } from "./config";

const base = { CALLBACK_SECRET: "c".repeat(16), KLING_API_KEY: "k" };

describe("the submit lock", () => {
  it("by default a dead worker's submits are back in the queue within 30 s, and a lock outlives an upstream call", () => {
    const c = WorkerConfigSchema.parse(base);
    expect(c.LOCK_DURATION_MS + c.STALLED_INTERVAL_MS).toBeLessThanOrEqual(30_000);
    expect(c.LOCK_DURATION_MS - c.LOCK_RENEW_MS).toBeGreaterThanOrEqual(c.KLING_HTTP_TIMEOUT_MS);
  });

  it("refuses a lock that an upstream call could outlive between two renewals", () => {
    expect(() => loadWorkerConfig({ ...base, KLING_HTTP_TIMEOUT_MS: "20000", LOCK_DURATION_MS: "21000", LOCK_RENEW_MS: "2000" })).toThrow(
      /LOCK_DURATION_MS: must be at least KLING_HTTP_TIMEOUT_MS \+ LOCK_RENEW_MS/,
    );
    expect(WorkerConfigSchema.safeParse({ ...base, KLING_HTTP_TIMEOUT_MS: "20000", LOCK_DURATION_MS: "22000", LOCK_RENEW_MS: "2000" }).success).toBe(true);
  });
});

describe("the queue backend", () => {
  it("is redis by default; postgres puts the queue in DATABASE_URL's database unless QUEUE_DATABASE_URL names another", () => {
    expect(WorkerConfigSchema.parse(base).QUEUE_BACKEND).toBe("redis");
    const pg = WorkerConfigSchema.parse({ ...base, QUEUE_BACKEND: "postgres", QUEUE_DATABASE_URL: "" });
    expect(pg.QUEUE_BACKEND).toBe("postgres");
    expect(pg.QUEUE_DATABASE_URL).toBeUndefined();
    expect(queueBackendSettings(pg)).toEqual({ kind: "postgres", prefix: "{kex}", databaseUrl: pg.DATABASE_URL });
    const elsewhere = WorkerConfigSchema.parse({ ...base, QUEUE_BACKEND: "postgres", QUEUE_DATABASE_URL: "postgresql://q@db:5432/queue" });
    expect(queueBackendSettings(elsewhere)).toMatchObject({ kind: "postgres", databaseUrl: "postgresql://q@db:5432/queue" });
    expect(queueBackendSettings(WorkerConfigSchema.parse(base))).toMatchObject({ kind: "redis", redisUrl: "redis://127.0.0.1:6379" });
  });

  it("refuses an unknown backend, naming the variable", () => {
    expect(() => loadWorkerConfig({ ...base, QUEUE_BACKEND: "mysql" })).toThrow(/QUEUE_BACKEND/);
  });
});
