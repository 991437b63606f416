// Plain-text tables for the fault suite and the bench: columns padded to their widest cell.

export type Cell = string | number;

/** A row spanning the whole table: the title of the rows under it. */
export interface SectionRow {
  section: string;
}

/** Width as a terminal shows it: one column per code point (✓, µ, → count one each). */
const width = (s: string) => [...s].length;
const padEnd = (s: string, w: number) => s + " ".repeat(Math.max(0, w - width(s)));
const padStart = (s: string, w: number) => " ".repeat(Math.max(0, w - width(s))) + s;

const isNumeric = (cell: Cell) => typeof cell === "number" || /^[-+]?\d[\d.,]*( ?(s|ms|%))?$/.test(cell);

function columnWidths(header: string[], rows: string[][]): number[] {
  return header.map((h, c) => Math.max(width(h), ...rows.map((r) => width(r[c] ?? ""))));
}

/** Renders rows under a header, with a rule under the header; columns of numbers are right-aligned. */
export function renderTable(header: string[], rows: Cell[][], indent = "  "): string {
  const cells = rows.map((r) => r.map(String));
  const widths = columnWidths(header, cells);
  const numericColumn = header.map((_, c) => rows.length > 0 && rows.every((r) => r[c] === undefined || r[c] === "" || isNumeric(r[c]!)));
  const line = (r: string[]) =>
    indent +
    r
      .map((cell, c) => (numericColumn[c] ? padStart(cell, widths[c]!) : padEnd(cell, widths[c]!)))
      .join("  ")
      .trimEnd();
  return [line(header), indent + widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}

/** Two columns, key and value, no header rule: for one scenario's details. */
export function renderPairs(pairs: Array<[string, Cell]>, indent = "  "): string {
  const keyWidth = Math.max(...pairs.map(([k]) => width(k)));
  return pairs.map(([k, v]) => `${indent}${padEnd(k, keyWidth)}  ${v}`).join("\n");
}

/** A table drawn with box characters; the columns listed in `rightAligned` are padded on the left. */
export function renderBoxTable(header: string[], rows: Array<Cell[] | SectionRow>, rightAligned: readonly number[] = []): string {
  const cells = rows.map((r) => ("section" in r ? null : r.map(String)));
  const widths = columnWidths(
    header,
    cells.filter((c): c is string[] => c !== null),
  );
  const line = (c: string[]) =>
    `│ ${c.map((cell, i) => (rightAligned.includes(i) ? padStart(cell, widths[i]!) : padEnd(cell, widths[i]!))).join(" │ ")} │`;
  const rule = (l: string, m: string, r: string) => `${l}${widths.map((w) => "─".repeat(w + 2)).join(m)}${r}`;
  const total = widths.reduce((a, w) => a + w + 3, -1);
  const out = [rule("┌", "┬", "┐"), line(header), rule("├", "┼", "┤")];
  for (const [i, r] of rows.entries()) {
    if ("section" in r) {
      if (i > 0) out.push(rule("├", "─", "┤"));
      out.push(`│ ${padEnd(r.section, total - 2)} │`);
      out.push(rule("├", "┬", "┤"));
    } else {
      out.push(line(cells[i]!));
    }
  }
  out.push(rule("└", "┴", "┘"));
  return out.join("\n");
}
