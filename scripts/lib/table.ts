// Plain-text tables for script output: columns padded to their widest cell, numbers right-aligned.

export type Cell = string | number;

const isNumeric = (cell: Cell) => typeof cell === "number" || /^[-+]?\d[\d.,]*( ?(s|ms|%))?$/.test(cell);

/** Renders rows under a header, with a rule under the header. */
export function renderTable(header: string[], rows: Cell[][], indent = "  "): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? "").length)));
  const numericColumn = header.map((_, c) => rows.length > 0 && rows.every((r) => r[c] === undefined || r[c] === "" || isNumeric(r[c]!)));
  const line = (r: string[]) =>
    indent +
    r
      .map((cell, c) => (numericColumn[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd();
  return [line(header), indent + widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

/** Two columns, key and value, no header rule: for one scenario's details. */
export function renderPairs(pairs: Array<[string, Cell]>, indent = "  "): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`).join("\n");
}
