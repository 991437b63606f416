import { prepared, rows, type Queryable } from "../queryable";

/**
 * Records that `account` produced `videoId` (a job's result video). Inside the transaction that writes
 * the job's success; a video already recorded keeps its first owner (a video id is unique upstream).
 */
export async function recordVideoOwner(q: Queryable, args: { videoId: string; account: string; jobId: string; now: Date }): Promise<void> {
  await q.query(
    prepared(`INSERT INTO video_owners (video_id, account, job_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (video_id) DO NOTHING`, [
      args.videoId,
      args.account,
      args.jobId,
      args.now,
    ]),
  );
}

/** The recorded owner of each of these videos (videos we did not produce are absent). */
export async function findVideoOwners(q: Queryable, videoIds: readonly string[]): Promise<Map<string, string>> {
  const unique = [...new Set(videoIds)];
  if (unique.length === 0) return new Map();
  const found = await rows<{ video_id: string; account: string }>(
    q,
    `SELECT video_id, account FROM video_owners WHERE video_id = ANY($1::text[])`,
    [unique],
  );
  return new Map(found.map((r) => [r.video_id, r.account]));
}
