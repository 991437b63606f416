import { JOB_STATUSES, type JobResource, type StatusCounts } from "@kex/contract";

export const emptyCounts = (): StatusCounts => Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as StatusCounts;

export function finishedCount(counts: StatusCounts): number {
  return counts.succeeded + counts.failed + counts.canceled;
}

/** `queued 0 · submitting 0 · … · canceled 0` */
export function countsLine(counts: StatusCounts): string {
  return JOB_STATUSES.map((s) => `${s} ${counts[s]}`).join(" · ");
}

export function shorten(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Aligned `label  value` lines; rows whose value is undefined are left out. */
export function labelled(rows: Array<[string, string | number | null | undefined]>): string {
  const shown = rows.filter((r): r is [string, string | number | null] => r[1] !== undefined);
  const width = Math.max(...shown.map(([label]) => label.length));
  return shown.map(([label, value]) => `${label.padEnd(width)}  ${value ?? "-"}`).join("\n");
}

/** A plain text table with a header row. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** `failed: <id> (video <video_id>): <code>: <message>` */
export function jobFailureLine(job: JobResource): string {
  const reason = job.error ? `${job.error.code}: ${shorten(job.error.message, 200)}` : "no error recorded";
  return `${job.status}: ${job.id} (video ${job.video_id}): ${reason}`;
}
