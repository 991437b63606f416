// Which Postgres and which queue backend `npm run demo` uses: a pure function of what answers, the
// flags and the environment, so every branch is tested without stopping anybody's servers.

export type QueueBackend = "redis" | "postgres";

export interface DemoModeInput {
  /** DATABASE_URL, REDIS_URL and QUEUE_BACKEND as the user set them (unset: undefined). */
  env: { DATABASE_URL?: string; REDIS_URL?: string; QUEUE_BACKEND?: string };
  /** `--embedded` was given. */
  embedded: boolean;
  /** Where Postgres and Redis are looked for when DATABASE_URL / REDIS_URL are not set. */
  local: { databaseUrl: string; redisUrl: string };
  /** Whether Postgres answered (at DATABASE_URL, else the local address), and Redis likewise. */
  answers: { postgres: boolean; redis: boolean };
  /** `docker compose` and a Docker engine are there. */
  docker: boolean;
  /** Where the embedded cluster keeps its data, as shown to the user (`.demo/pg`). */
  embeddedDataDir: string;
}

export interface DemoMode {
  /** Where Postgres comes from: DATABASE_URL, the local address, docker compose, or embedded. */
  postgres: "given" | "local" | "docker" | "embedded";
  /** The database URL; for `embedded` it is known once the cluster runs. */
  databaseUrl?: string;
  queue: QueueBackend;
  /** The Redis URL, when the queue is on Redis. */
  redisUrl?: string;
  /** The services to start with `docker compose up` first. */
  dockerServices: Array<"postgres" | "redis">;
  /** One line for the user: which mode, and why. */
  line: string;
}

/** `postgresql://u:p@host:5432/db` → `host:5432` (no credentials in what is printed). */
export function hostOf(url: string, defaultPort: number): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || defaultPort}`;
}

/** Throws, with a message saying what to do, when the environment asks for something that is not there. */
export function chooseDemoMode(input: DemoModeInput): DemoMode {
  const { env, answers, local } = input;
  if (env.QUEUE_BACKEND !== undefined && env.QUEUE_BACKEND !== "redis" && env.QUEUE_BACKEND !== "postgres") {
    throw new Error(`QUEUE_BACKEND must be redis or postgres (got "${env.QUEUE_BACKEND}")`);
  }
  const pgAt = hostOf(env.DATABASE_URL ?? local.databaseUrl, 5432);
  const redisUrl = env.REDIS_URL ?? local.redisUrl;
  const redisAt = hostOf(redisUrl, 6379);
  const why: string[] = [];

  let postgres: DemoMode["postgres"];
  if (input.embedded) {
    postgres = "embedded";
    why.push("--embedded");
  } else if (env.DATABASE_URL !== undefined) {
    if (!answers.postgres) throw new Error(`DATABASE_URL is set, but no Postgres answers at ${pgAt}: start it, or unset DATABASE_URL`);
    postgres = "given";
    why.push("DATABASE_URL is set");
  } else if (answers.postgres) {
    postgres = "local";
    why.push(`Postgres answers at ${pgAt}`);
  } else if (input.docker) {
    postgres = "docker";
    why.push(`no Postgres at ${pgAt}, Docker is there`);
  } else {
    postgres = "embedded";
    why.push(`no Postgres at ${pgAt} and no Docker`);
  }

  let queue: QueueBackend;
  let dockerRedis = false;
  if (env.QUEUE_BACKEND === "postgres") {
    queue = "postgres";
    why.push("QUEUE_BACKEND=postgres");
  } else if (env.QUEUE_BACKEND === "redis") {
    if (!answers.redis && postgres !== "docker") throw new Error(`QUEUE_BACKEND=redis, but no Redis answers at ${redisAt}`);
    queue = "redis";
    dockerRedis = !answers.redis;
    why.push("QUEUE_BACKEND=redis");
  } else if (input.embedded) {
    queue = "postgres";
  } else if (env.REDIS_URL !== undefined) {
    if (!answers.redis) throw new Error(`REDIS_URL is set, but no Redis answers at ${redisAt}: start it, or unset REDIS_URL`);
    queue = "redis";
    why.push("REDIS_URL is set");
  } else if (answers.redis) {
    queue = "redis";
    why.push(`Redis answers at ${redisAt}`);
  } else if (postgres === "docker") {
    queue = "redis";
    dockerRedis = true;
  } else {
    queue = "postgres";
    why.push(`no Redis at ${redisAt}`);
  }

  const dockerServices: DemoMode["dockerServices"] = [];
  if (postgres === "docker") dockerServices.push("postgres");
  if (dockerRedis) dockerServices.push("redis");

  const pgPart = {
    given: `Postgres at DATABASE_URL (${pgAt})`,
    local: `Postgres at ${pgAt}`,
    docker: "Postgres from docker compose",
    embedded: `embedded Postgres (data in ${input.embeddedDataDir})`,
  }[postgres];
  const queuePart =
    queue === "redis" ? `Redis queue (${dockerRedis ? "docker compose" : redisAt})` : "Postgres queue (QUEUE_BACKEND=postgres)";
  return {
    postgres,
    ...(postgres === "given" ? { databaseUrl: env.DATABASE_URL } : postgres === "embedded" ? {} : { databaseUrl: local.databaseUrl }),
    queue,
    ...(queue === "redis" ? { redisUrl: dockerRedis ? local.redisUrl : redisUrl } : {}),
    dockerServices,
    line: `mode: ${pgPart} + ${queuePart}, because ${why.join("; ")}`,
  };
}
