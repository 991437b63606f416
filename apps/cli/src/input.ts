import { createReadStream } from "node:fs";
import { access, constants } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { ExtensionCreateSchema, toValidationDetails, type ExtensionCreate } from "@kex/contract";
import { parse as parseCsv } from "csv-parse";
import { UsageError } from "./errors";

export const INPUT_FORMATS = ["jsonl", "csv"] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** One row of the input file, before validation. `line` is 1-based (for CSV, the line the record starts on). */
export interface InputRow {
  line: number;
  /** The row as an object to validate; absent when the row could not even be read (`problem` says why). */
  value?: unknown;
  problem?: string;
  /** CSV: the columns whose cell was empty on this row (left out of `value`). */
  emptyCells?: string[];
}

/** A reason a row is refused, shown as `line 17: prompt: Too big: …`. */
export interface RowProblem {
  line: number;
  field: string;
  message: string;
}

export const CSV_COLUMNS = ["video_id", "prompt", "negative_prompt", "cfg_scale", "callback_url"] as const;
const METADATA_COLUMN_PREFIX = "metadata.";

/** `--format` wins; otherwise the extension decides (.jsonl/.ndjson, .csv). */
export function detectFormat(file: string, explicit?: string): InputFormat {
  if (explicit !== undefined) {
    if (!(INPUT_FORMATS as readonly string[]).includes(explicit))
      throw new UsageError(`--format must be one of ${INPUT_FORMATS.join(", ")}`);
    return explicit as InputFormat;
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  if (ext === ".csv") return "csv";
  throw new UsageError(`cannot tell the format of ${file} from its extension: name it .jsonl or .csv, or pass --format jsonl|csv`);
}

export async function assertReadable(file: string): Promise<void> {
  try {
    await access(file, constants.R_OK);
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Streams the rows of a file, one at a time: the file is never held in memory. */
export function readRows(file: string, format: InputFormat): AsyncGenerator<InputRow> {
  return format === "jsonl" ? readJsonl(file) : readCsv(file);
}

async function* readJsonl(file: string): AsyncGenerator<InputRow> {
  const lines = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  let line = 0;
  for await (let text of lines) {
    line++;
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === "") continue;
    try {
      yield { line, value: JSON.parse(text) };
    } catch (err) {
      yield { line, problem: `invalid JSON: ${(err as Error).message}` };
    }
  }
}

/** Line breaks as csv-parse counts records: CRLF, LF or CR. */
function countLineBreaks(text: string): number {
  return text.match(/\r\n|\r|\n/g)?.length ?? 0;
}

/**
 * CSV with a header row: video_id, prompt, negative_prompt, cfg_scale, callback_url and any `metadata.<key>`
 * columns (the metadata object's string values). Empty cells are left out; cfg_scale is read as a number.
 */
async function* readCsv(file: string): AsyncGenerator<InputRow> {
  const parser = createReadStream(file).pipe(
    parseCsv({ bom: true, raw: true, info: true, skip_empty_lines: true, relax_column_count: true }),
  );
  let header: string[] | undefined;
  // csv-parse's own line count is off after a quoted CRLF, so lines are counted from each record's raw text
  // (which includes the empty lines skipped before it).
  let linesBefore = 0;
  try {
    for await (const { record, raw } of parser as AsyncIterable<{ record: string[]; raw: string }>) {
      const leading = countLineBreaks(/^[\r\n]*/.exec(raw)?.[0] ?? "");
      const line = linesBefore + leading + 1;
      linesBefore += countLineBreaks(raw);
      if (!header) {
        header = checkHeader(record, line);
        continue;
      }
      if (record.length !== header.length) {
        yield { line, problem: `expected ${header.length} fields as in the header, found ${record.length}` };
        continue;
      }
      yield { line, value: csvRecordToItem(header, record), emptyCells: header.filter((_, i) => (record[i] ?? "") === "") };
    }
  } catch (err) {
    const e = err as Error & { code?: string; lines?: number };
    if (typeof e.code !== "string" || !e.code.startsWith("CSV_")) throw err;
    // The parser cannot go on after a syntax error: report it as the last row.
    yield { line: linesBefore + 1, problem: `CSV syntax: ${e.message.replace(/ at line \d+/, "")}` };
    return;
  }
  if (!header) throw new UsageError(`${file} is empty: expected a header row (${CSV_COLUMNS.join(",")})`);
}

function checkHeader(header: string[], line: number): string[] {
  const names = header.map((name) => name.trim());
  const unknown = names.filter(
    (name) =>
      !(CSV_COLUMNS as readonly string[]).includes(name) &&
      !(name.startsWith(METADATA_COLUMN_PREFIX) && name.length > METADATA_COLUMN_PREFIX.length),
  );
  if (unknown.length > 0) {
    throw new UsageError(
      `line ${line}: unknown column(s) ${unknown.map((n) => JSON.stringify(n)).join(", ")}: the header may name ${CSV_COLUMNS.join(", ")} and metadata.<key>`,
    );
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new UsageError(`line ${line}: column ${JSON.stringify(name)} appears twice in the header`);
    seen.add(name);
  }
  if (!names.includes("video_id") || !names.includes("prompt"))
    throw new UsageError(`line ${line}: the header must name at least video_id and prompt`);
  return names;
}

function csvRecordToItem(header: readonly string[], record: readonly string[]): Record<string, unknown> {
  const item: Record<string, unknown> = {};
  let metadata: Record<string, string> | undefined;
  header.forEach((name, i) => {
    const cell = record[i] ?? "";
    if (cell === "") return;
    if (name.startsWith(METADATA_COLUMN_PREFIX)) {
      metadata ??= {};
      metadata[name.slice(METADATA_COLUMN_PREFIX.length)] = cell;
    } else if (name === "cfg_scale") {
      // A number when it reads as one; otherwise the string, so validation names the field.
      const n = cell.trim() === "" ? NaN : Number(cell);
      item[name] = Number.isFinite(n) ? n : cell;
    } else {
      item[name] = cell;
    }
  });
  if (metadata) item.metadata = metadata;
  return item;
}

/** Validates one row with the API's own schema. */
export function validateRow(row: InputRow): { item: ExtensionCreate; problems?: undefined } | { item?: undefined; problems: RowProblem[] } {
  if (row.problem !== undefined) return { problems: [{ line: row.line, field: "(row)", message: row.problem }] };
  const parsed = ExtensionCreateSchema.safeParse(row.value);
  if (parsed.success) return { item: parsed.data };
  const given = row.value !== null && typeof row.value === "object" ? (row.value as Record<string, unknown>) : undefined;
  return {
    problems: toValidationDetails(parsed.error).map((d) => {
      // A required field with nothing in it: say so, not "expected string, received undefined".
      const missing = given !== undefined && !d.field.includes(".") && d.field !== "(body)" && given[d.field] === undefined;
      const message = !missing ? d.message : row.emptyCells?.includes(d.field) ? "required (empty cell)" : "required (missing)";
      return { line: row.line, field: d.field === "(body)" ? "(row)" : d.field, message };
    }),
  };
}

export function formatProblem(problem: RowProblem): string {
  return `line ${problem.line}: ${problem.field}: ${problem.message}`;
}
