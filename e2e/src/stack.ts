import { ApiConfigSchema, startApi, type ApiConfig, type RunningApi } from "@kex/api";
import { createLogger } from "@kex/core";
import { startSandbox, type RunningSandbox, type StartSandboxOptions } from "@kex/sandbox";
import {
  createTestDatabase,
  deleteRedisPrefix,
  TEST_LOG_LEVEL,
  TEST_QUEUE_BACKEND,
  TEST_REDIS_URL,
  uniqueQueuePrefix,
  waitFor,
  type TestDatabase,
} from "@kex/testing";
import { startWorker, WorkerConfigSchema, type RunningWorker, type WorkerConfig } from "@kex/worker";

export const STACK_API_TOKEN = "stack-api-token-0123456789";
export const STACK_CALLBACK_SECRET = "stack-callback-secret-0123456789";

export interface Stack {
  sandbox: RunningSandbox;
  api: RunningApi;
  workers: RunningWorker[];
  database: TestDatabase;
  prefix: string;
  workerConfig: WorkerConfig;
  /** Starts one more worker process-equivalent on the same database and queues. */
  addWorker(): Promise<RunningWorker>;
  close(): Promise<void>;
}

export interface StackOptions {
  sandbox?: StartSandboxOptions;
  api?: Partial<Record<keyof ApiConfig, string>>;
  worker?: Partial<Record<keyof WorkerConfig, string>>;
  workers?: number;
}

/** Sandbox, api and worker(s) on loopback with a database and queue prefix of their own. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const database = await createTestDatabase();
  const prefix = uniqueQueuePrefix();
  const sandbox = await startSandbox({ seed: 42, ...options.sandbox });
  const silent = (name: string) => createLogger({ name, level: TEST_LOG_LEVEL });
  const api = await startApi(
    ApiConfigSchema.parse({
      PORT: "0",
      DATABASE_URL: database.url,
      // The backend global setup chose (postgres when no Redis answers).
      QUEUE_BACKEND: TEST_QUEUE_BACKEND,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      API_TOKEN: STACK_API_TOKEN,
      CALLBACK_SECRET: STACK_CALLBACK_SECRET,
      // Everything here is on loopback, callback receivers included; SSRF tests turn it off.
      ALLOW_PRIVATE_WEBHOOK_URLS: "true",
      ...options.api,
    }),
    { logger: silent("api") },
  );
  const workerConfig = WorkerConfigSchema.parse({
    DATABASE_URL: database.url,
    QUEUE_BACKEND: TEST_QUEUE_BACKEND,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    KLING_BASE_URL: sandbox.url,
    KLING_PATH_PREFIX: "/kling",
    KLING_API_KEY: "sandbox-key",
    KLING_HTTP_TIMEOUT_MS: "5000",
    KLING_MAX_IN_FLIGHT: "10",
    PUBLIC_BASE_URL: api.url,
    CALLBACK_SECRET: STACK_CALLBACK_SECRET,
    SLOT_POLL_MS: "50",
    ALLOW_PRIVATE_WEBHOOK_URLS: "true",
    ...options.worker,
  });
  const workers: RunningWorker[] = [];
  const addWorker = async () => {
    const w = await startWorker(workerConfig, { logger: silent("worker") });
    workers.push(w);
    return w;
  };
  for (let i = 0; i < (options.workers ?? 1); i++) await addWorker();
  return {
    sandbox,
    api,
    workers,
    database,
    prefix,
    workerConfig,
    addWorker,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await api.close();
      await sandbox.close();
      await deleteRedisPrefix(prefix);
      await database.drop();
    },
  };
}

const stackAuth = () => ({ authorization: `Bearer ${STACK_API_TOKEN}`, "content-type": "application/json" });

/** POST /v1/batches as the stack's admin; throws unless it answers 202. */
export async function postBatch(stack: Stack, items: object[]): Promise<{ id: string; total: number; jobs: string[] }> {
  const res = await fetch(`${stack.api.url}/v1/batches`, { method: "POST", headers: stackAuth(), body: JSON.stringify({ items }) });
  if (res.status !== 202) throw new Error(`POST /v1/batches answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { id: string; total: number; jobs: string[] };
}

/** Polls GET /v1/batches/:id until `done`, and returns that body. */
export async function waitForBatchDone(stack: Stack, batchId: string, timeoutMs = 60_000) {
  return waitFor(
    async () => {
      const res = await fetch(`${stack.api.url}/v1/batches/${batchId}`, { headers: stackAuth() });
      const body = (await res.json()) as { done: boolean; counts: Record<string, number>; total: number };
      return body.done ? body : undefined;
    },
    { timeoutMs, intervalMs: 150, what: `batch ${batchId} to finish` },
  );
}
