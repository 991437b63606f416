// Pieces several scenarios use.
import { setTimeout as sleep } from "node:timers/promises";
import { CAP, QUEUE_BACKEND } from "../settings";
import type { Analysis, Check, Ctx } from "../types";

/** Why a scenario that breaks Redis is skipped: with the queue on Postgres nothing of ours uses Redis. */
export const skipWithoutRedisQueue: string | undefined =
  QUEUE_BACKEND === "redis" ? undefined : `breaks Redis, which the apps do not use with FAULTS_QUEUE_BACKEND=${QUEUE_BACKEND}`;

/** Redis-side faults share one shape: run until ~30% finished, then break Redis once. */
export function redisFault(action: (ctx: Ctx) => Promise<string>) {
  return async (ctx: Ctx) => {
    await ctx.waitFinished(0.3);
    ctx.mark(`${await action(ctx)}`);
  };
}

export function capReached(a: Analysis): Check {
  return {
    name: "the cap was the limit (Postgres in-flight reached it)",
    ok: a.dbPeakInFlight >= CAP,
    detail: `peak ${a.dbPeakInFlight} in Postgres`,
  };
}

export function pct(n: number, of: number): string {
  return of > 0 ? `${((100 * n) / of).toFixed(1)}%` : "-";
}

/**
 * How soon an idle worker takes up new work: with nothing left to do, `probes` times, posts `perProbe`
 * more jobs and times from the POST to the next create call upstream. An idle worker waits on
 * its queue's wake-up (Redis: a blocking pop; Postgres: `LISTEN`), and only polls every `drainDelay`
 * (5 s) otherwise, so a wake-up that works answers well under that, every time. Returns the slowest.
 */
export async function idlePickupMs(ctx: Ctx, args: { offset: number; probes: number; perProbe: number }): Promise<number> {
  let slowest = 0;
  for (let p = 0; p < args.probes; p++) {
    // Idle: everything final, and for a moment longer than the worker's own polling steps.
    while (ctx.progress.final < ctx.accepted.size && Date.now() < ctx.deadline) await sleep(100);
    await sleep(1500 + ctx.rand() * 1500);
    const before = (await ctx.sandboxStats()).createRequests;
    const posting = Date.now();
    await ctx.submit({ count: args.perProbe, offset: args.offset + p * args.perProbe });
    let took = Number.POSITIVE_INFINITY;
    while (Date.now() - posting < 30_000) {
      if ((await ctx.sandboxStats()).createRequests > before) {
        took = Date.now() - posting;
        break;
      }
      await sleep(25);
    }
    slowest = Math.max(slowest, took);
  }
  return slowest;
}
