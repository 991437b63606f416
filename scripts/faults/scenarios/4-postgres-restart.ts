import { restartPostgres } from "../../lib/machine";
import { BASE_DATABASE_URL, secs } from "../settings";
import type { Scenario } from "../types";

export const postgresRestart: Scenario = {
  key: "4-postgres-restart",
  title: "Postgres restarted mid-run",
  workers: 1,
  allowedFailureCodes: ["task_failed"],
  async fault(ctx) {
    await ctx.waitFinished(0.3);
    ctx.mark("restarting Postgres");
    const { downMs } = await restartPostgres(BASE_DATABASE_URL);
    ctx.facts["postgres down"] = secs(downMs);
    ctx.mark(`Postgres answers again (${secs(downMs)})`);
  },
};
