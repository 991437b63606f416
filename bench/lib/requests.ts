// The requests the bench sends: batch bodies like a real client's, and timed batch POSTs.
import { SAMPLE_PROMPTS } from "../../scripts/lib/samples";

/** One batch body, like a real client's: 18-digit video ids the sandbox accepts, some optional fields. */
export function batchBody(first: number, size: number): string {
  const items = Array.from({ length: size }, (_, i) => {
    const n = first + i;
    return {
      video_id: `8${String(n).padStart(17, "0")}`,
      prompt: `${SAMPLE_PROMPTS[n % SAMPLE_PROMPTS.length]!} (take ${n})`,
      ...(n % 3 === 0 ? { negative_prompt: "blurry, low quality" } : {}),
      ...(n % 4 === 0 ? { cfg_scale: 0.6 } : {}),
      metadata: { bench: true, index: n },
    };
  });
  return JSON.stringify({ items });
}

export interface PostedBatch {
  id: string;
  total: number;
  jobs: string[];
  ms: number;
}

export async function postBatch(apiUrl: string, token: string, body: string): Promise<PostedBatch> {
  const t0 = performance.now();
  const res = await fetch(`${apiUrl}/v1/batches`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body,
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 202) throw new Error(`POST /v1/batches answered ${res.status}: ${text.slice(0, 300)}`);
  const parsed = JSON.parse(text) as { id: string; total: number; jobs: string[] };
  return { ...parsed, ms };
}
