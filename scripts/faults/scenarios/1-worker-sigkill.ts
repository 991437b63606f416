import { setTimeout as sleep } from "node:timers/promises";
import { JOBS } from "../settings";
import type { Scenario } from "../types";

const KILLS = 10;

export const workerSigkill: Scenario = {
  key: "1-worker-sigkill",
  title: `worker killed with SIGKILL ${KILLS} times at random moments, restarted after each; create answers held 250 ms, 20% of callbacks dropped`,
  workers: 1,
  // The sandbox's responseDelayMs delays *before* reading the request, so a kill during it aborts the
  // create and no task is made. A proxy that forwards at once and holds the answer makes the kill land
  // where it hurts: upstream has the task, the row still says `submitting`. Dropped callbacks make some
  // of those jobs depend on the re-submit finding the task by external_task_id.
  upstreamAnswerDelayMs: 250,
  sandboxEnv: { SANDBOX_CALLBACK_DROP_RATE: "0.2" },
  workerEnv: { WORKER_CONCURRENCY: "32" },
  allowedFailureCodes: ["task_failed"],
  async fault(ctx) {
    const proxy = ctx.proxy!;
    let kills = 0;
    let killedWhileHeld = 0;
    let heldAtKills = 0;
    for (let k = 1; k <= KILLS; k++) {
      // Wait until this incarnation is up and submitting (it sends a create call of its own)…
      const until = Date.now() + 8000;
      const seen = proxy.forwardedCreates();
      while (Date.now() < until && ctx.progress.final < JOBS && proxy.forwardedCreates() === seen) await sleep(20);
      // …then kill at a random moment; every other kill waits for a create answer being held.
      if (k % 2 === 1) await sleep(ctx.rand() * 1500);
      else {
        while (Date.now() < until && ctx.progress.final < JOBS && proxy.pending().heldCreates === 0) await sleep(5);
        await sleep(ctx.rand() * 100);
      }
      const held = proxy.pending().heldCreates;
      await ctx.killWorker(0);
      kills++;
      heldAtKills += held;
      if (held > 0) killedWhileHeld++;
      ctx.mark(`SIGKILL #${k}: ${held} create calls accepted upstream, answer not yet received`);
      // Restart; the dead incarnation's held answers drain meanwhile (they go nowhere).
      await sleep(300 + ctx.rand() * 500);
      ctx.startWorker(0);
    }
    ctx.facts["kills"] = kills;
    ctx.facts["kills between upstream accept and row update"] = `${killedWhileHeld} (${heldAtKills} create answers lost)`;
  },
  checks: (ctx, a) => [
    { name: `worker killed ${KILLS} times`, ok: ctx.facts["kills"] === KILLS, detail: String(ctx.facts["kills"] ?? 0) },
    {
      name: "kills landed between upstream accept and row update",
      ok: a.answerLost > 0,
      detail: `${a.answerLost} jobs whose create answer died with a worker (${a.adopted} found again by the re-submit)`,
    },
  ],
};
