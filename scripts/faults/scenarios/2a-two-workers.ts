import type { Scenario } from "../types";
import { capReached } from "./shared";

export const twoWorkers: Scenario = {
  key: "2a-two-workers",
  title: "two worker processes sharing one cap",
  workers: 2,
  allowedFailureCodes: ["task_failed"],
  checks: (_ctx, a) => [capReached(a)],
};
