import type { Scenario } from "../types";
import { capReached } from "./shared";

export const fourWorkers: Scenario = {
  key: "2b-four-workers",
  title: "four worker processes sharing one cap",
  workers: 4,
  allowedFailureCodes: ["task_failed"],
  checks: (_ctx, a) => [capReached(a)],
};
