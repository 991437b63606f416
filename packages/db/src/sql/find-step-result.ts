import type { Job } from "../generated/client";
import { rows, type Queryable } from "../queryable";

/** The result of a chain's step: its latest succeeded job's video, or null when none succeeded. */
export async function findStepResult(q: Queryable, args: { chainId: string; stepIndex: number }): Promise<Pick<Job, "resultVideoId" | "resultDuration"> | null> {
  const [row] = await rows<Pick<Job, "resultVideoId" | "resultDuration">>(
    q,
    `SELECT result_video_id AS "resultVideoId", result_duration AS "resultDuration" FROM jobs
     WHERE chain_id = $1::uuid AND step_index = $2 AND status = 'succeeded' ORDER BY created_at DESC LIMIT 1`,
    [args.chainId, args.stepIndex],
  );
  return row ?? null;
}
