import { CAP } from "../settings";
import type { Scenario } from "../types";
import { pct } from "./shared";

export const hostileUpstream: Scenario = {
  key: "5-hostile-upstream",
  title: `upstream: 20% 5xx, 1303 (account limit ${Math.max(1, Math.round(CAP * 0.16))} < cap), callbacks 15% dropped / 20% duplicated / 10% reordered`,
  workers: 1,
  sandboxEnv: {
    SANDBOX_ERROR_5XX_RATE: "0.2",
    // Fewer upstream slots than our cap (the account is shared with someone else), so 1303 really happens:
    // our own in-flight count in Postgres runs well above upstream's (a slot is freed when the final
    // callback is processed), so a limit near the cap would never be reached.
    SANDBOX_MAX_CONCURRENCY: String(Math.max(1, Math.round(CAP * 0.16))),
    SANDBOX_CALLBACK_DROP_RATE: "0.15",
    SANDBOX_CALLBACK_DUPLICATE_RATE: "0.2",
    SANDBOX_CALLBACK_REORDER_RATE: "0.1",
  },
  workerEnv: { WORKER_CONCURRENCY: "32" },
  // 8 attempts at 20% 5xx: exhausting them is possible in theory (2.6e-6 per job), so it is legitimate.
  allowedFailureCodes: ["task_failed", "upstream_unavailable"],
  checks: (_ctx, a) => {
    const r = a.stats.rejectedByCode;
    const n1303 = r["1303"] ?? 0;
    const n5xx = (r["5000"] ?? 0) + (r["5001"] ?? 0) + (r["5002"] ?? 0);
    return [
      { name: "upstream answered 1303", ok: n1303 > 0, detail: `${n1303} (${pct(n1303, a.stats.createRequests)} of creates)` },
      { name: "upstream answered 5xx", ok: n5xx > 0, detail: `${n5xx} (${pct(n5xx, a.stats.createRequests)} of creates)` },
      {
        name: "callbacks were dropped, duplicated and reordered",
        ok: (a.stats.callbacksDropped ?? 0) > 0 && (a.stats.callbacksDuplicated ?? 0) > 0 && (a.stats.callbacksReordered ?? 0) > 0,
        detail: `dropped ${a.stats.callbacksDropped}, duplicated ${a.stats.callbacksDuplicated}, reordered ${a.stats.callbacksReordered}`,
      },
      { name: "the reconciler recovered missed callbacks", ok: a.reconcilerFixes > 0, detail: String(a.reconcilerFixes) },
    ];
  },
};
