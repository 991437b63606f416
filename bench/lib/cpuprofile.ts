// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by package and by function, and
// inclusive time of the functions that matter, so a profile answers "where does the time go".
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** node_modules/<pkg> (scoped too), our workspace folder, node internals, or a V8 pseudo-frame. */
export function bucketOf(frame: CallFrame): string {
  const url = frame.url;
  if (!url) return frame.functionName.startsWith("(") ? frame.functionName : "(native)";
  if (url.startsWith("node:")) return "node:internal";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const ws = /\/(apps|packages)\/([^/]+)\//.exec(url);
  if (ws) return `${ws[1]}/${ws[2]}`;
  return url.replace(/^file:\/\//, "");
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  byBucket: Array<{ name: string; ms: number; share: number }>;
  bySelf: Array<{ name: string; ms: number; share: number }>;
  byInclusive: Array<{ name: string; ms: number; share: number }>;
}

/**
 * `window`: only samples taken between these two CLOCK_MONOTONIC instants in µs (V8's profile clock
 * and `process.hrtime` share it, so the bench records phase windows that slice any app's profile).
 */
export function summarize(file: string, top = 25, window?: { startUs: number; endUs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (window && (t < window.startUs || t > window.endUs)) continue;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
    totalUs += delta;
  }
  const label = (f: CallFrame) => `${f.functionName || "(anonymous)"} ${bucketOf(f)}${f.url && !f.url.includes("node_modules") && !f.url.startsWith("node:") ? `:${f.lineNumber + 1}` : ""}`;
  const bucket = new Map<string, number>();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const f = node.callFrame;
    if (f.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const b = bucketOf(f);
    bucket.set(b, (bucket.get(b) ?? 0) + us);
    self.set(label(f), (self.get(label(f)) ?? 0) + us);
    // Inclusive: every distinct frame on this sample's stack gets the time once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!.callFrame);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + us);
    }
  }
  const busyUs = totalUs - idleUs;
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / Math.max(1, busyUs) }));
  return { totalMs: totalUs / 1000, busyMs: busyUs / 1000, byBucket: rank(bucket), bySelf: rank(self), byInclusive: rank(inclusive) };
}

export function formatSummary(s: ProfileSummary): string {
  const lines = [`profile ${(s.totalMs / 1000).toFixed(1)} s, busy ${(s.busyMs / 1000).toFixed(1)} s`];
  const section = (title: string, rows: ProfileSummary["byBucket"]) => {
    lines.push(`\n${title} (share of busy time)`);
    for (const r of rows) lines.push(`  ${(r.share * 100).toFixed(1).padStart(5)} %  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`);
  };
  section("self time by package", s.byBucket);
  section("self time by function", s.bySelf);
  section("inclusive time by function", s.byInclusive);
  return lines.join("\n");
}
