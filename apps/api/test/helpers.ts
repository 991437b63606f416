import { createLogger, type Logger } from "@kex/core";
import { createSubmitQueue, type QueueBackend, type SubmitQueue } from "@kex/queue";
import { createTestDatabase, createTestQueue, type TestDatabase, type TestQueue } from "@kex/testing";
import { ApiConfigSchema, type ApiConfig } from "../src/config";
import { startApi, type RunningApi } from "../src/server";

export const API_TOKEN = "test-api-token-0123456789";
export const CALLBACK_SECRET = "test-callback-secret-0123456789";
export const auth = { Authorization: `Bearer ${API_TOKEN}` };

export interface ApiHarness {
  api: RunningApi;
  database: TestDatabase;
  config: ApiConfig;
  /** The test's queue on the chosen backend (TEST_QUEUE_BACKEND), and a backend of the test's own on it. */
  testQueue: TestQueue;
  queueBackend: QueueBackend;
  /** The submit queue as the worker would see it. */
  queue: SubmitQueue;
  close(): Promise<void>;
}

/** A real API on an ephemeral port, with a database and a queue of its own (on TEST_QUEUE_BACKEND). */
export async function startApiHarness(
  overrides: Partial<Record<keyof ApiConfig, string>> = {},
  options: { logger?: Logger } = {},
): Promise<ApiHarness> {
  const database = await createTestDatabase();
  const testQueue = createTestQueue({ databaseUrl: database.url });
  const config = ApiConfigSchema.parse({
    PORT: "0",
    DATABASE_URL: database.url,
    ...testQueue.env,
    API_TOKEN,
    CALLBACK_SECRET,
    ...overrides,
  });
  const api = await startApi(config, { logger: options.logger ?? createLogger({ name: "api", level: "silent" }) });
  const queueBackend = await testQueue.open();
  const queue = createSubmitQueue(queueBackend);
  return {
    api,
    database,
    config,
    testQueue,
    queueBackend,
    queue,
    async close() {
      await api.close();
      await queue.close();
      await queueBackend.close();
      await testQueue.cleanup();
      await database.drop();
    },
  };
}

export const validItem = (i = 0) => ({ video_id: `8${String(i).padStart(17, "0")}`, prompt: `extend shot ${i}` });
