import { restartPostgres } from "../../lib/machine";
import { BASE_DATABASE_URL, QUEUE_BACKEND, secs } from "../settings";
import type { Scenario } from "../types";
import { idlePickupMs } from "./shared";

/** Idle-worker probes after the restart, and how soon each must reach upstream (a poll would take up to drainDelay, 5 s). */
const PROBES = 3;
const PICKUP_TARGET_MS = 2000;

export const postgresRestart: Scenario = {
  key: "4-postgres-restart",
  title: `Postgres restarted mid-run${QUEUE_BACKEND === "postgres" ? " (the queue with it)" : ""}; then, idle, ${PROBES} new jobs one at a time must reach upstream within ${secs(PICKUP_TARGET_MS)} (the worker's queue wake-up works again)`,
  workers: 1,
  allowedFailureCodes: ["task_failed"],
  async fault(ctx) {
    await ctx.waitFinished(0.3);
    ctx.mark("restarting Postgres");
    const { downMs } = await restartPostgres(BASE_DATABASE_URL);
    ctx.facts["postgres down"] = secs(downMs);
    ctx.mark(`Postgres answers again (${secs(downMs)})`);
    // Every connection died with the server, the worker's LISTEN connection too (on the Postgres backend).
    const slowest = await idlePickupMs(ctx, { offset: ctx.jobs, probes: PROBES, perProbe: 1 });
    ctx.mark(`idle pickup after the restart: slowest of ${PROBES} ${Number.isFinite(slowest) ? secs(slowest) : "never"}`);
    ctx.facts["pickupMs"] = slowest;
  },
  checks: (ctx) => {
    const slowest = Number(ctx.facts["pickupMs"]);
    delete ctx.facts["pickupMs"];
    return [
      {
        name: `after the restart an idle worker takes up a new job within ${secs(PICKUP_TARGET_MS)}`,
        ok: slowest <= PICKUP_TARGET_MS,
        detail: Number.isFinite(slowest) ? `slowest of ${PROBES}: ${secs(slowest)}` : "not measured or never picked up",
      },
    ];
  },
};
