import { setTimeout as sleep } from "node:timers/promises";
import { pgQuery } from "../lib/stack-io";
import { secs } from "../settings";
import type { Ctx, Scenario } from "../types";

const KILLS = 10;
/** The restarted worker must take up the killed worker's submits within this long. */
const RESUME_TARGET_MS = 30_000;
/** The measured kill waits for at least this many submits in flight (or gives up waiting after 30 s). */
const MEASURED_IN_FLIGHT = 5;

/**
 * The submits a killed worker had in flight (its jobs still `submitting`), from the kill until a worker
 * takes each one up again: a new attempt, a worker event, or the job moved on (e.g. a callback bound
 * its task).
 */
class ResumeWatch {
  private readonly waiting = new Map<string, { killedAt: number; attempts: number }>();
  private readonly resumedAfterMs: number[] = [];

  constructor(private readonly ctx: Ctx) {}

  async killed(at: number): Promise<number> {
    const rows = await submitting(this.ctx);
    for (const r of rows) this.waiting.set(r.id, { killedAt: at, attempts: r.attempts });
    return rows.length;
  }

  /** Looks once; true when nothing is waiting any more. */
  async look(): Promise<boolean> {
    if (this.waiting.size === 0) return true;
    const rows = await pgQuery<{ id: string; status: string; attempts: number; last_worker_event: Date | null }>(
      this.ctx.databaseUrl,
      `SELECT j.id::text AS id, j.status::text AS status, j.attempts,
         (SELECT max(e.at) FROM job_events e WHERE e.job_id = j.id AND e.source = 'worker') AS last_worker_event
       FROM jobs j WHERE j.id::text = ANY($1)`,
      [[...this.waiting.keys()]],
    );
    const now = Date.now();
    for (const r of rows) {
      const w = this.waiting.get(r.id)!;
      const eventAfter = r.last_worker_event !== null && new Date(r.last_worker_event).getTime() > w.killedAt;
      if (r.status !== "submitting" || r.attempts > w.attempts || eventAfter) {
        this.resumedAfterMs.push(now - w.killedAt);
        this.waiting.delete(r.id);
      }
    }
    return this.waiting.size === 0;
  }

  /** Watches until every submit is taken up again (or the scenario's deadline). */
  async untilAllResumed(): Promise<void> {
    while (!(await this.look().catch(() => false)) && Date.now() < this.ctx.deadline) await sleep(250);
  }

  summary(): { jobs: number; maxMs: number; notResumed: number } {
    return { jobs: this.resumedAfterMs.length + this.waiting.size, maxMs: Math.max(0, ...this.resumedAfterMs), notResumed: this.waiting.size };
  }
}

const submitting = (ctx: Ctx) =>
  pgQuery<{ id: string; attempts: number }>(ctx.databaseUrl, "SELECT id::text AS id, attempts FROM jobs WHERE status = 'submitting'");

export const workerSigkill: Scenario = {
  key: "1-worker-sigkill",
  title: `worker killed with SIGKILL ${KILLS} times at random moments, restarted after each, then once more with submits in flight (how soon they resume is measured); create answers held 250 ms, 20% of callbacks dropped`,
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
      while (Date.now() < until && ctx.progress.final < ctx.jobs && proxy.forwardedCreates() === seen) await sleep(20);
      // …then kill at a random moment; every other kill waits for a create answer being held.
      if (k % 2 === 1) await sleep(ctx.rand() * 1500);
      else {
        while (Date.now() < until && ctx.progress.final < ctx.jobs && proxy.pending().heldCreates === 0) await sleep(5);
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
    // One more kill, measured: once the restarted worker is up with submits in flight, kill it and
    // restart it at once; the new incarnation (the only worker) must take them up.
    const until = Date.now() + 30_000;
    const seen = proxy.forwardedCreates();
    const busy = () => Date.now() < until && ctx.progress.final < ctx.jobs;
    while (busy() && proxy.forwardedCreates() === seen) await sleep(20);
    while (busy() && (await submitting(ctx)).length < MEASURED_IN_FLIGHT) await sleep(100);
    const resumes = new ResumeWatch(ctx);
    await ctx.killWorker(0);
    const inFlight = await resumes.killed(Date.now());
    ctx.mark(`SIGKILL (measured): ${inFlight} submits in flight`);
    await sleep(300);
    ctx.startWorker(0);
    await resumes.untilAllResumed();
    const r = resumes.summary();
    ctx.facts["kills"] = kills;
    ctx.facts["kills between upstream accept and row update"] = `${killedWhileHeld} (${heldAtKills} create answers lost)`;
    ctx.facts["resume after kill"] = `max ${secs(r.maxMs)} (${r.jobs} submits in flight at the measured kill${r.notResumed ? `, ${r.notResumed} never resumed` : ""})`;
    ctx.facts["resumeMaxMs"] = r.jobs === 0 ? Number.NaN : r.notResumed ? Number.POSITIVE_INFINITY : r.maxMs;
  },
  checks: (ctx, a) => {
    const resumeMs = Number(ctx.facts["resumeMaxMs"]);
    delete ctx.facts["resumeMaxMs"];
    return [
      { name: `worker killed ${KILLS} times (and once more, measured)`, ok: ctx.facts["kills"] === KILLS, detail: String(ctx.facts["kills"] ?? 0) },
      {
        name: "kills landed between upstream accept and row update",
        ok: a.answerLost > 0,
        detail: `${a.answerLost} jobs whose create answer died with a worker (${a.adopted} found again by the re-submit)`,
      },
      {
        name: `a killed worker's submits resumed within ${secs(RESUME_TARGET_MS)}`,
        ok: resumeMs <= RESUME_TARGET_MS,
        detail: Number.isFinite(resumeMs) ? `max ${secs(resumeMs)}` : Number.isNaN(resumeMs) ? "no submit in flight at the measured kill" : "some never resumed",
      },
    ];
  },
};
