import { createLogger, type Logger } from "@kex/core";
import { createSubmitQueue, createRedis } from "@kex/queue";
import { createTestDatabase, deleteRedisPrefix, TEST_REDIS_URL, uniqueQueuePrefix, type TestDatabase } from "@kex/testing";
import { ApiConfigSchema, type ApiConfig } from "../src/config";
import { startApi, type RunningApi } from "../src/server";

export const API_TOKEN = "test-api-token-0123456789";
export const CALLBACK_SECRET = "test-callback-secret-0123456789";
export const auth = { Authorization: `Bearer ${API_TOKEN}` };

export interface ApiHarness {
  api: RunningApi;
  database: TestDatabase;
  config: ApiConfig;
  /** The submit queue as the worker would see it. */
  queue: ReturnType<typeof createSubmitQueue>;
  close(): Promise<void>;
}

/** A real API on an ephemeral port, with a database and a queue prefix of its own. */
export async function startApiHarness(
  overrides: Partial<Record<keyof ApiConfig, string>> = {},
  options: { logger?: Logger } = {},
): Promise<ApiHarness> {
  const database = await createTestDatabase();
  const prefix = uniqueQueuePrefix();
  const config = ApiConfigSchema.parse({
    PORT: "0",
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    API_TOKEN,
    CALLBACK_SECRET,
    ...overrides,
  });
  const api = await startApi(config, { logger: options.logger ?? createLogger({ name: "api", level: "silent" }) });
  const redis = createRedis(TEST_REDIS_URL);
  const queue = createSubmitQueue(redis, { prefix });
  return {
    api,
    database,
    config,
    queue,
    async close() {
      await api.close();
      await queue.close();
      redis.disconnect();
      await deleteRedisPrefix(prefix);
      await database.drop();
    },
  };
}

export const validItem = (i = 0) => ({ video_id: `8${String(i).padStart(17, "0")}`, prompt: `extend shot ${i}` });
