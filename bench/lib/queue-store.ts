// The queue's store as the bench sees it, on either backend (QUEUE_BACKEND): the submit queue the apps
// use, what the store occupies, and removing everything the run left in it.
//   redis:    INFO used_memory of the whole server (others share it: cross-checked by MEMORY USAGE);
//   postgres: pg_total_relation_size of every table of the queue's schema (indexes and TOAST included).
import { JOB_CATALOG } from "@kex/core";
import { createQueueBackend, queueSchemaName, quoteQueueSchema, type AnyQueue, type QueueBackend, type QueueBackendKind } from "@kex/queue";
import { deleteKeysUnder } from "@kex/testing";
import { Redis } from "ioredis";
import type { Client } from "pg";
import { usedMemory } from "./redis";

export interface QueueStore {
  kind: QueueBackendKind;
  prefix: string;
  backend: QueueBackend;
  /** The api's submit queue, as the worker sees it. */
  submitQueue: AnyQueue;
  /** Only on the Redis backend: a client for INFO / MEMORY USAGE. */
  redis?: Redis;
  /** Bytes the store occupies now (see the file's head for what is counted). */
  storageBytes(): Promise<number>;
  /** Empties the queue and removes what it left (the keys under the prefix, or the schema), then closes. */
  destroy(): Promise<void>;
}

/** Size of every table (with its indexes and TOAST) in `schema`. */
export async function schemaBytes(pg: Client, schema: string): Promise<number> {
  const { rows } = await pg.query<{ bytes: string | null }>(
    `SELECT sum(pg_total_relation_size(c.oid)) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')`,
    [schema],
  );
  return Number(rows[0]?.bytes ?? 0);
}

export async function openQueueStore(args: { kind: QueueBackendKind; prefix: string; redisUrl: string; databaseUrl: string; pg: Client }): Promise<QueueStore> {
  const { kind, prefix, pg } = args;
  const backend = await createQueueBackend(
    kind === "redis" ? { kind, prefix, redisUrl: args.redisUrl } : { kind, prefix, databaseUrl: args.databaseUrl, poolMax: 2 },
  );
  const submitQueue = backend.createQueue(JOB_CATALOG.submit.queue);
  submitQueue.on("error", () => undefined);
  const redis = kind === "redis" ? new Redis(args.redisUrl, { maxRetriesPerRequest: null }) : undefined;
  return {
    kind,
    prefix,
    backend,
    submitQueue,
    redis,
    storageBytes: () => (redis ? usedMemory(redis) : schemaBytes(pg, queueSchemaName(prefix))),
    async destroy() {
      await submitQueue.obliterate({ force: true }).catch(() => undefined);
      await submitQueue.close().catch(() => undefined);
      await backend.close().catch(() => undefined);
      if (redis) {
        await deleteKeysUnder(redis, prefix).catch(() => undefined);
        redis.disconnect();
      } else await pg.query(`DROP SCHEMA IF EXISTS ${quoteQueueSchema(prefix)} CASCADE`).catch(() => undefined);
    },
  };
}
