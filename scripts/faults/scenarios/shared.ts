// Pieces several scenarios use.
import { CAP } from "../settings";
import type { Analysis, Check, Ctx } from "../types";

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
