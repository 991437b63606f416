import type { ApiClient } from "../api-client";
import { ApiRequestError, ExitCode, type ExitCodeValue } from "../errors";
import { countsLine } from "../format";
import type { Output } from "../output";

/**
 * Cancels a job, or every unfinished job of a batch: the id is tried as a job, then as a batch. A job or
 * batch that already finished is said so (exit 3, the API's 409).
 */
export async function cancel(client: ApiClient, id: string, options: { json: boolean }, output: Output): Promise<ExitCodeValue> {
  try {
    const job = await client.cancelJob(id);
    output.out(options.json ? JSON.stringify(job, null, 2) : `canceled job ${job.id} (video ${job.video_id})`);
    return ExitCode.ok;
  } catch (err) {
    if (!(err instanceof ApiRequestError && err.status === 404)) throw err;
  }
  try {
    const batch = await client.cancelBatch(id);
    output.out(
      options.json
        ? JSON.stringify(batch, null, 2)
        : `canceled ${batch.canceled} unfinished jobs of batch ${batch.id}\n${countsLine(batch.counts)}`,
    );
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof ApiRequestError && err.status === 404) throw new ApiRequestError(`no job or batch with id ${id}`, 404, "not_found");
    throw err;
  }
}
