import { setTimeout as sleep } from "node:timers/promises";
import { PAUSE_FOR_MS, secs } from "../settings";
import type { Scenario } from "../types";

export const accountPaused: Scenario = {
  key: "6-account-paused",
  title: `account paused by 1102 for ${secs(PAUSE_FOR_MS)}, then recovering (ACCOUNT_PAUSE_MS=3000)`,
  workers: 1,
  workerEnv: { ACCOUNT_PAUSE_MS: "3000" },
  allowedFailureCodes: ["task_failed"],
  async fault(ctx) {
    await ctx.waitFinished(0.2);
    const before = await ctx.sandboxStats();
    await ctx.sandboxOptions({ accountError: 1102 });
    const from = Date.now();
    ctx.mark("upstream answers 1102 to every create");
    await sleep(PAUSE_FOR_MS);
    await ctx.sandboxOptions({ accountError: null });
    const to = Date.now();
    const after = await ctx.sandboxStats();
    ctx.mark("upstream accepts again");
    ctx.facts["pauseFrom"] = from;
    ctx.facts["pauseTo"] = to;
    ctx.facts["create calls while blocked"] = after.createRequests - before.createRequests;
  },
  checks: (ctx, a) => {
    const from = Number(ctx.facts["pauseFrom"]);
    const to = Number(ctx.facts["pauseTo"]) + 3000 + 1000;
    const during = ctx.readyz.filter((r) => r.at >= from && r.at <= to);
    const paused = during.filter((r) => r.paused);
    const pausedOutside = ctx.readyz.filter((r) => r.paused && (r.at < from || r.at > to + 2000));
    delete ctx.facts["pauseFrom"];
    delete ctx.facts["pauseTo"];
    const n1102 = a.stats.rejectedByCode["1102"] ?? 0;
    return [
      { name: "upstream refused creates with 1102", ok: n1102 > 0, detail: String(n1102) },
      {
        name: "/readyz reported the pause while it lasted",
        ok: paused.length > 0 && paused.every((r) => r.status === 503),
        detail: `${paused.length} of ${during.length} samples paused (HTTP ${[...new Set(paused.map((r) => r.status))].join("/") || "-"})`,
      },
      {
        name: "/readyz ready again after recovery",
        ok: pausedOutside.length === 0 && ctx.readyz.at(-1)?.paused === false,
        detail: `${pausedOutside.length} paused samples outside the window`,
      },
    ];
  },
};
