import type { ApiClient } from "../api-client";
import type { ExitCodeValue } from "../errors";
import type { Output } from "../output";
import { reportOutcome, waitForBatches, type WaitOptions } from "../progress";

/** Progress until every batch is done; exit 1 when any job failed or was canceled. */
export async function watch(client: ApiClient, batchIds: string[], options: WaitOptions, output: Output): Promise<ExitCodeValue> {
  const outcome = await waitForBatches(client, batchIds, options, output);
  return reportOutcome(client, outcome, output);
}
