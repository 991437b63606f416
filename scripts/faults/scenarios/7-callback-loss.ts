import { setTimeout as sleep } from "node:timers/promises";
import { CAP, secs } from "../settings";
import type { Ctx, Scenario } from "../types";

/** Jobs per timed run: the same number with every callback delivered, then with LOSS of them dropped. */
const RUN_JOBS = 300;
const LOSS = 0.15;
/** The price of losing callbacks, as a multiple of the time the same jobs take without loss. */
const MAX_SLOWDOWN = 1.5;

/** Waits until `n` jobs exist and all are final; the time that took, from `since`. */
async function allFinal(ctx: Ctx, n: number, since: number): Promise<number> {
  while (Date.now() < ctx.deadline) {
    const { rows, final, observedAt } = ctx.progress;
    if (rows >= n && final >= n) return observedAt - since;
    await sleep(100);
  }
  throw new Error(`${n} jobs were not final before the deadline (${JSON.stringify(ctx.progress.byStatus)})`);
}

/** Submits RUN_JOBS more jobs (after the `done` already final) and times them until all are final. */
async function timedRun(ctx: Ctx, done: number): Promise<number> {
  const started = Date.now();
  await ctx.submit({ count: RUN_JOBS, offset: done });
  return allFinal(ctx, done + RUN_JOBS, started);
}

export const callbackLoss: Scenario = {
  key: "7-callback-loss",
  title: `${RUN_JOBS} jobs of 2.5-6.5 s tasks with every callback delivered, then ${RUN_JOBS} more with ${LOSS * 100}% dropped; reconciler at its defaults`,
  workers: 1,
  // A warm-up round of the cap, not timed, so neither run pays for the worker's start.
  jobs: CAP,
  // Tasks of a few seconds, so a run is a few rounds of the cap and a lost callback is polled
  // by its duration, not by the reconciler's floor (RECONCILE_MIN_AFTER_MS).
  sandboxEnv: { SANDBOX_PROCESSING_DELAY_MS: "500", SANDBOX_COMPLETE_DELAY_MIN_MS: "2000", SANDBOX_COMPLETE_DELAY_MAX_MS: "6000" },
  workerDefaults: ["RECONCILE_INTERVAL_MS", "RECONCILE_AFTER_MS", "RECONCILE_RPS", "RECONCILE_BATCH"],
  allowedFailureCodes: ["task_failed"],
  async fault(ctx) {
    await allFinal(ctx, ctx.jobs, ctx.started);
    const clean = await timedRun(ctx, ctx.jobs);
    ctx.mark(`${RUN_JOBS} jobs final with every callback delivered (${secs(clean)})`);
    await ctx.sandboxOptions({ callbackDropRate: LOSS });
    const before = await ctx.sandboxStats();
    const lossy = await timedRun(ctx, ctx.jobs + RUN_JOBS);
    const after = await ctx.sandboxStats();
    ctx.mark(`${RUN_JOBS} more final with ${LOSS * 100}% of callbacks dropped (${secs(lossy)})`);
    ctx.facts["time, every callback delivered"] = secs(clean);
    ctx.facts[`time, ${LOSS * 100}% of callbacks dropped`] = `${secs(lossy)}  (${(lossy / clean).toFixed(2)} x)`;
    ctx.facts["callbacks dropped / task queries, second run"] =
      `${after.callbacksDropped - before.callbacksDropped} / ${after.queryRequests - before.queryRequests}`;
    ctx.facts["slowdownX1000"] = Math.round((1000 * lossy) / clean);
  },
  checks: (ctx, a) => {
    const slowdown = Number(ctx.facts["slowdownX1000"]) / 1000;
    delete ctx.facts["slowdownX1000"];
    return [
      {
        name: `${LOSS * 100}% of callbacks lost costs at most ${MAX_SLOWDOWN} x the time`,
        ok: slowdown <= MAX_SLOWDOWN,
        detail: Number.isFinite(slowdown) ? `${slowdown.toFixed(2)} x` : "not measured",
      },
      { name: "callbacks were dropped", ok: a.stats.callbacksDropped > 0, detail: String(a.stats.callbacksDropped) },
      { name: "the reconciler recovered missed callbacks", ok: a.reconcilerFixes > 0, detail: String(a.reconcilerFixes) },
    ];
  },
};
