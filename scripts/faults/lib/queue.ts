// The scenario's queue seen from the outside, on whichever backend the apps use (FAULTS_QUEUE_BACKEND):
// the submit queue for the readouts (depth, active and delayed jobs, a job's state), and removing what
// the queue left behind (the Redis keys under the prefix, or the schema the prefix names).
import { JOB_CATALOG } from "@kex/core";
import { createQueueBackend, quoteQueueSchema, type AnyQueue } from "@kex/queue";
import { deleteRedisPrefix } from "@kex/testing";
import { QUEUE_BACKEND, REDIS_URL } from "../settings";
import { Client } from "pg";

/** The queue the worker takes submits from, opened the way the apps open it; `close` closes both. */
export async function openSubmitQueue(args: { prefix: string; databaseUrl: string }): Promise<{ queue: AnyQueue; close(): Promise<void> }> {
  const backend = await createQueueBackend(
    QUEUE_BACKEND === "redis"
      ? { kind: "redis", prefix: args.prefix, redisUrl: REDIS_URL, failFast: true, onError: () => undefined }
      : { kind: "postgres", prefix: args.prefix, databaseUrl: args.databaseUrl, poolMax: 2, onError: () => undefined },
  );
  const queue = backend.createQueue(JOB_CATALOG.submit.queue);
  queue.on("error", () => undefined);
  return {
    queue,
    async close() {
      await queue.close().catch(() => undefined);
      await backend.close().catch(() => undefined);
    },
  };
}

/** Removes the scenario's queue: its Redis keys, or its schema in the scenario's database. What it removed, in words. */
export async function removeScenarioQueue(args: { prefix: string; databaseUrl: string }): Promise<string> {
  if (QUEUE_BACKEND === "redis") return `${await deleteRedisPrefix(args.prefix, REDIS_URL)} Redis keys under ${args.prefix}`;
  const client = new Client({ connectionString: args.databaseUrl, connectionTimeoutMillis: 3000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteQueueSchema(args.prefix)} CASCADE`);
  } finally {
    await client.end().catch(() => undefined);
  }
  return `schema ${quoteQueueSchema(args.prefix)}`;
}

/** Where the scenario's queue is, for notes. */
export function queueWhere(args: { prefix: string; databaseUrl: string }): string {
  return QUEUE_BACKEND === "redis" ? `Redis keys ${args.prefix}*` : `schema ${quoteQueueSchema(args.prefix)} of ${new URL(args.databaseUrl).pathname.slice(1)}`;
}
