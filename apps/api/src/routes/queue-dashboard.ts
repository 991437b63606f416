import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { AnyQueue } from "@kex/queue";
import type { Queue } from "bullmq";
import type { Router } from "express";

/**
 * The BullMQ dashboard (bull-board) for these queues, served under `basePath`. Mount it behind auth:
 * it shows job payloads and can retry, promote, clean and remove jobs. Postgres stays the source of
 * truth, so anything done here is healed by the sweeper (a removed submit is enqueued again).
 * bull-board 9.10 reads both queue backends (it talks to BullMQ's Queue class, not to Redis);
 * on Postgres its "Redis info" panel shows the Postgres server instead.
 */
export function queueDashboard(queues: readonly AnyQueue[], basePath: string): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(basePath);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue as unknown as Queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: "kex queues" } },
  });
  return serverAdapter.getRouter() as Router;
}
