// The one table the bench prints, and number formatting.
import { renderBoxTable } from "@kex/testing";

export interface Row {
  /** A section heading row when set (metric/value ignored). */
  section?: string;
  metric: string;
  value: string;
  target?: string;
  /** true ✓, false ✗, undefined: no target. */
  ok?: boolean;
}

export const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");
export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
export const fmtMs = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0)) : "n/a");
export const fmtBytes = (n: number) =>
  !Number.isFinite(n) ? "n/a" : n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(0)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(2)} KiB` : `${n.toFixed(0)} B`;

/** The bench's table: metric, value (right-aligned), target and ✓/✗, with section rows between the phases. */
export function renderTable(rows: Row[]): string {
  return renderBoxTable(
    ["metric", "value", "target", ""],
    rows.map((r) => (r.section ? { section: r.section } : [r.metric, r.value, r.target ?? "", r.ok === undefined ? "" : r.ok ? "✓" : "✗"])),
    [1],
  );
}
