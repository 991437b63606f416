import type { StatusCounts } from "@kex/contract";

/** What one progress line shows. */
export interface ProgressState {
  counts: StatusCounts;
  total: number;
  elapsedMs: number;
  /** Jobs finished per second recently; undefined until it can be told. */
  ratePerSec?: number;
  /** Since when the API has not answered (ms); undefined while it answers. */
  unreachableForMs?: number;
}

/** `45s`, `3m05s`, `2h03m`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

function formatRate(perSec: number): string {
  if (perSec >= 10) return `${Math.round(perSec)}/s`;
  if (perSec >= 0.1) return `${perSec.toFixed(1)}/s`;
  return `${(perSec * 60).toFixed(1)}/min`;
}

interface Segment {
  /** Lower is more important: kept first when the line is short of room. */
  priority: number;
  /** Forms from longest to shortest; the longest that fits is shown. */
  forms: string[];
}

const SEPARATOR = " · ";
/** Segments at or above this importance always show, in their shortest form if need be. */
const CORE_PRIORITY = 3;

/**
 * One line of progress that never passes `width` columns (it is kept one short of it, so a terminal never
 * wraps it). What matters most is kept when room is short: the API being unreachable, then succeeded and
 * failed, then finished/total, time, ETA and rate, then the other statuses, then a bar on wide terminals.
 * Segments keep their place on the line whatever is left out.
 */
export function renderProgressLine(state: ProgressState, width: number): string {
  const { counts, total } = state;
  const finished = counts.succeeded + counts.failed + counts.canceled;
  const pct = total > 0 ? Math.floor((finished / total) * 100) : 100;
  const remaining = total - finished;
  const segments: Segment[] = [];
  if (state.unreachableForMs !== undefined) {
    segments.push({
      priority: 0,
      forms: [`API unreachable, retrying… (${formatDuration(state.unreachableForMs)})`, "API unreachable, retrying…", "API unreachable"],
    });
  }
  segments.push({ priority: 1, forms: [`succeeded ${counts.succeeded}`, `ok ${counts.succeeded}`] });
  segments.push({ priority: 2, forms: [`failed ${counts.failed}`, `fail ${counts.failed}`] });
  if (counts.canceled > 0) segments.push({ priority: 4, forms: [`canceled ${counts.canceled}`, `canc ${counts.canceled}`] });
  segments.push({ priority: 3, forms: [`${finished}/${total} (${pct}%)`, `${finished}/${total}`] });
  segments.push({ priority: 9, forms: [`processing ${counts.processing}`, `proc ${counts.processing}`] });
  segments.push({ priority: 10, forms: [`submitted ${counts.submitted}`] });
  segments.push({ priority: 11, forms: [`queued ${counts.queued + counts.submitting}`] });
  segments.push({ priority: 5, forms: [formatDuration(state.elapsedMs)] });
  if (state.ratePerSec !== undefined && state.ratePerSec > 0) {
    segments.push({ priority: 7, forms: [formatRate(state.ratePerSec)] });
    if (remaining > 0) segments.push({ priority: 6, forms: [`ETA ${formatDuration((remaining / state.ratePerSec) * 1000)}`] });
  }

  const room = Math.max(1, width - 1);
  const byPriority = [...segments].sort((x, y) => x.priority - y.priority);
  const chosen = new Map<Segment, string>();
  const used = () => [...chosen.values()].reduce((n, text) => n + text.length, 0) + Math.max(0, chosen.size - 1) * SEPARATOR.length;
  // Most important first, each in the longest form that fits while leaving room for the shortest form of
  // every *core* segment still to place (the unreachable notice, succeeded,
  // failed, finished/total), so those always show. The first segment that does not fit ends the line:
  // nothing less important shows when something more important could not.
  const core = byPriority.filter((seg) => seg.priority <= CORE_PRIORITY);
  for (const segment of byPriority) {
    const reserved = core
      .filter((seg) => seg.priority > segment.priority)
      .reduce((n, seg) => n + seg.forms[seg.forms.length - 1]!.length + SEPARATOR.length, 0);
    const extra = chosen.size > 0 ? SEPARATOR.length : 0;
    const shortest = segment.forms[segment.forms.length - 1]!;
    const form =
      segment.forms.find((f) => used() + extra + f.length + reserved <= room) ??
      // Too narrow for every core segment: the more important ones first.
      (segment.priority <= CORE_PRIORITY && used() + extra + shortest.length <= room ? shortest : undefined);
    if (form === undefined) break;
    chosen.set(segment, form);
  }
  let line = segments
    .filter((s) => chosen.has(s))
    .map((s) => chosen.get(s)!)
    .join(SEPARATOR);
  // A bar in front when everything else fitted and at least 12 columns are left.
  const barWidth = Math.min(30, room - line.length - 1);
  if (chosen.size === segments.length && barWidth >= 12) {
    const full = total > 0 ? Math.round((finished / total) * barWidth) : barWidth;
    line = `${"█".repeat(full)}${"░".repeat(barWidth - full)} ${line}`;
  }
  return line.length > room ? `${line.slice(0, room - 1)}…` : line;
}
