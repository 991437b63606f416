import { chooseDemoMode, type DemoModeInput } from "../lib/demo-mode";

const LOCAL = { databaseUrl: "postgresql://postgres@127.0.0.1:5432/kling_orchestrator", redisUrl: "redis://127.0.0.1:6379" };

function input(over: Partial<DemoModeInput> = {}): DemoModeInput {
  return {
    env: {},
    embedded: false,
    local: LOCAL,
    answers: { postgres: true, redis: true },
    docker: false,
    embeddedDataDir: ".demo/pg",
    ...over,
  };
}

describe("chooseDemoMode", () => {
  it("uses Postgres and Redis at the local addresses when both answer (as before)", () => {
    const mode = chooseDemoMode(input());
    expect(mode).toMatchObject({
      postgres: "local",
      databaseUrl: LOCAL.databaseUrl,
      queue: "redis",
      redisUrl: LOCAL.redisUrl,
      dockerServices: [],
    });
    expect(mode.line).toBe(
      "mode: Postgres at 127.0.0.1:5432 + Redis queue (127.0.0.1:6379), because Postgres answers at 127.0.0.1:5432; Redis answers at 127.0.0.1:6379",
    );
  });

  it("runs the queue on that Postgres when Postgres answers and Redis does not", () => {
    const mode = chooseDemoMode(input({ answers: { postgres: true, redis: false } }));
    expect(mode).toMatchObject({ postgres: "local", databaseUrl: LOCAL.databaseUrl, queue: "postgres", dockerServices: [] });
    expect(mode.redisUrl).toBeUndefined();
    expect(mode.line).toContain("no Redis at 127.0.0.1:6379");
    expect(mode.line).toContain("Postgres queue (QUEUE_BACKEND=postgres)");
  });

  it("starts an embedded Postgres with the Postgres queue when nothing answers and there is no Docker", () => {
    const mode = chooseDemoMode(input({ answers: { postgres: false, redis: false } }));
    expect(mode).toMatchObject({ postgres: "embedded", queue: "postgres", dockerServices: [] });
    expect(mode.databaseUrl).toBeUndefined();
    expect(mode.line).toBe(
      "mode: embedded Postgres (data in .demo/pg) + Postgres queue (QUEUE_BACKEND=postgres), because no Postgres at 127.0.0.1:5432 and no Docker; no Redis at 127.0.0.1:6379",
    );
  });

  it("starts what is missing with docker compose when Docker is there and Postgres does not answer", () => {
    expect(chooseDemoMode(input({ docker: true, answers: { postgres: false, redis: false } }))).toMatchObject({
      postgres: "docker",
      queue: "redis",
      dockerServices: ["postgres", "redis"],
    });
    expect(chooseDemoMode(input({ docker: true, answers: { postgres: false, redis: true } }))).toMatchObject({
      postgres: "docker",
      queue: "redis",
      redisUrl: LOCAL.redisUrl,
      dockerServices: ["postgres"],
    });
  });

  it("uses an embedded Postgres, and a Redis that answers, when only Redis is there", () => {
    expect(chooseDemoMode(input({ answers: { postgres: false, redis: true } }))).toMatchObject({ postgres: "embedded", queue: "redis" });
  });

  it("--embedded forces the embedded Postgres and the Postgres queue even when both answer", () => {
    const mode = chooseDemoMode(input({ embedded: true }));
    expect(mode).toMatchObject({ postgres: "embedded", queue: "postgres", dockerServices: [] });
    expect(mode.line).toMatch(/because --embedded$/);
  });

  it("QUEUE_BACKEND chooses the queue: redis with --embedded, postgres next to a Redis that answers", () => {
    expect(chooseDemoMode(input({ embedded: true, env: { QUEUE_BACKEND: "redis" } }))).toMatchObject({
      postgres: "embedded",
      queue: "redis",
      redisUrl: LOCAL.redisUrl,
    });
    expect(chooseDemoMode(input({ env: { QUEUE_BACKEND: "postgres" } }))).toMatchObject({ postgres: "local", queue: "postgres" });
    expect(() => chooseDemoMode(input({ env: { QUEUE_BACKEND: "kafka" } }))).toThrow(/QUEUE_BACKEND must be redis or postgres/);
    expect(() =>
      chooseDemoMode(input({ embedded: true, env: { QUEUE_BACKEND: "redis" }, answers: { postgres: true, redis: false } })),
    ).toThrow(/QUEUE_BACKEND=redis, but no Redis answers at 127.0.0.1:6379/);
  });

  it("uses DATABASE_URL and REDIS_URL when they are set, and says so; fails when they do not answer", () => {
    const env = { DATABASE_URL: "postgresql://u:secret@db.internal:6543/kex", REDIS_URL: "redis://cache.internal:6380" };
    const mode = chooseDemoMode(input({ env }));
    expect(mode).toMatchObject({ postgres: "given", databaseUrl: env.DATABASE_URL, queue: "redis", redisUrl: env.REDIS_URL });
    expect(mode.line).toBe(
      "mode: Postgres at DATABASE_URL (db.internal:6543) + Redis queue (cache.internal:6380), because DATABASE_URL is set; REDIS_URL is set",
    );
    expect(mode.line).not.toContain("secret");
    expect(() => chooseDemoMode(input({ env, answers: { postgres: false, redis: true } }))).toThrow(
      /DATABASE_URL is set, but no Postgres answers at db.internal:6543/,
    );
    expect(() => chooseDemoMode(input({ env, answers: { postgres: true, redis: false } }))).toThrow(
      /REDIS_URL is set, but no Redis answers at cache.internal:6380/,
    );
    expect(chooseDemoMode(input({ env: { DATABASE_URL: env.DATABASE_URL }, answers: { postgres: true, redis: false } }))).toMatchObject({
      postgres: "given",
      queue: "postgres",
    });
  });
});
