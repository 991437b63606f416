// Whether a Postgres or a Redis answers at a URL (jest's global setup, the demo, the fault suite).
import { Redis } from "ioredis";
import { Client } from "pg";
import { adminUrl } from "./database";

/** True when Redis answers PING within two seconds. */
export async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    const pong = (await redis.ping()) === "PONG";
    await redis.quit();
    return pong;
  } catch {
    redis.disconnect();
    return false;
  }
}

/** True when the server of `databaseUrl` answers `SELECT 1` on its `postgres` database within two seconds. */
export async function postgresAnswers(databaseUrl: string): Promise<boolean> {
  const client = new Client({ connectionString: adminUrl(databaseUrl), connectionTimeoutMillis: 2000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
