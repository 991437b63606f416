// The one table the bench prints, and number formatting.

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

export function renderTable(rows: Row[]): string {
  const headers = ["metric", "value", "target", ""];
  const cells = rows.map((r) => (r.section ? null : [r.metric, r.value, r.target ?? "", r.ok === undefined ? "" : r.ok ? "✓" : "✗"]));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => (c ? [...c[i]!].length : 0))));
  const pad = (s: string, w: number, right = false) => (right ? " ".repeat(w - [...s].length) + s : s + " ".repeat(w - [...s].length));
  const line = (c: string[]) => `│ ${pad(c[0]!, widths[0]!)} │ ${pad(c[1]!, widths[1]!, true)} │ ${pad(c[2]!, widths[2]!)} │ ${pad(c[3]!, widths[3]!)} │`;
  const rule = (l: string, m: string, r: string) => `${l}${widths.map((w) => "─".repeat(w + 2)).join(m)}${r}`;
  const total = widths.reduce((a, w) => a + w + 3, -1);
  const out = [rule("┌", "┬", "┐"), line(headers), rule("├", "┼", "┤")];
  for (const [i, r] of rows.entries()) {
    if (r.section) {
      if (i > 0) out.push(rule("├", "┴", "┤").replace(/┴/g, "─"));
      out.push(`│ ${pad(r.section, total - 2)} │`);
      out.push(rule("├", "┬", "┤"));
    } else {
      out.push(line(cells[i]!));
    }
  }
  out.push(rule("└", "┴", "┘"));
  return out.join("\n");
}
