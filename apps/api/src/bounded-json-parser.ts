import { isUtf8 } from "node:buffer";
import type { ApiErrorCode } from "@kex/contract";
import { BodyBytes, joinSegments } from "./body-bytes";
import { ApiError } from "./errors";

/** What one JSON body may hold. Each limit is checked as the bytes arrive, before anything past it is built. */
export interface JsonBodyLimits {
  /** Most bytes, counted after decompression. */
  maxBytes: number;
  /** Deepest nesting of objects and arrays (the top-level value is depth 1). */
  maxDepth: number;
  /** Most elements of any one array, or members of any one object (a huge object stalls V8 as it rehashes). */
  maxMembers: number;
  /** Most values in the whole body (objects, arrays, strings, numbers, booleans, nulls; keys not counted). */
  maxValues: number;
  /** Longest string (a value or a key), in bytes as sent (an escape counts its bytes): checked while a long string is still arriving. */
  maxStringBytes: number;
}

/** Open containers the parser has room for at first (see `BoundedJsonParser.depth`). */
const INITIAL_LEVELS = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LEFT_BRACKET = 0x5b;
const RIGHT_BRACKET = 0x5d;
const LEFT_BRACE = 0x7b;
const RIGHT_BRACE = 0x7d;

export const bodyError = (status: number, code: ApiErrorCode, field: string, rule: string, message: string, summary = message): ApiError =>
  new ApiError(status, code, `invalid request body: ${field === "(body)" ? summary : `${field}: ${summary}`}`, [{ field, rule, message }]);

const malformed = (message: string): ApiError => new ApiError(400, "invalid_json", `malformed JSON body: ${message}`);

export const tooLarge = (maxBytes: number): ApiError =>
  bodyError(413, "payload_too_large", "(body)", "too_large", `larger than ${maxBytes} bytes`, `larger than the limit (${maxBytes} bytes)`);

/** How many backslashes end `bytes[from, to)`: an odd number escapes the byte at `to`. */
function backslashesBefore(bytes: Buffer, from: number, to: number): number {
  let at = to;
  while (at > from && bytes[at - 1] === BACKSLASH) at -= 1;
  return to - at;
}

/**
 * The value of a JSON body: what `JSON.parse` returns for it, refusing bytes that are not UTF-8
 * instead of replacing them by U+FFFD.
 */
export function parseJsonBytes(bytes: Buffer): unknown {
  if (!isUtf8(bytes)) throw malformed("the body is not UTF-8");
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw malformed((err as Error).message);
  }
}

/**
 * Reads a JSON body chunk by chunk and refuses it at the first byte past a limit, so a hostile body
 * costs what it took to see that it is over. It only scans (structure, counts and string lengths, the
 * long strings found with `indexOf` rather than byte by byte): a 58 MB batch is scanned in ~50 ms,
 * where a tokenizer that builds each value costs seconds. The value is then `JSON.parse` of the whole
 * body (`end`), on this thread or another (`finish` gives the bytes). Only objects and arrays are
 * taken at the top (like body-parser's `strict`). The counts are exact for any valid JSON; for text
 * that is not, they may be off, and `JSON.parse` refuses it anyway.
 */
export class BoundedJsonParser {
  /** The body so far: what it returns, and where the keys that name a refusal are read. */
  private readonly body = new BodyBytes();
  private bytes = 0;
  private valueCount = 0;
  /**
   * Open containers; the arrays below are indexed by depth (0: the top-level value). They start at
   * `INITIAL_LEVELS` and double as a body nests deeper, up to `maxDepth`: a callback may nest 64 K
   * levels, and allocating for all of them up front cost every callback 1.4 MB of zeroed memory.
   */
  private depth = 0;
  private isArray: Uint8Array;
  /** Elements or members seen so far. */
  private members: Uint32Array;
  /** The current member's key (objects only), as offsets in the body: decoded only to name a refusal. */
  private keyStart: Float64Array;
  private keyEnd: Float64Array;
  /** The next string in this object is a key, not a value. */
  private expectKey: Uint8Array;
  private rootClosed = false;
  private inString = false;
  private stringIsKey = false;
  /** Offset in the body of the first byte inside the string being read. */
  private stringStart = 0;
  /** The last chunk ended in an unpaired backslash inside a string. */
  private escaped = false;
  /** Inside a number, `true`, `false` or `null` (counted at its first byte). */
  private inPrimitive = false;

  constructor(private readonly limits: JsonBodyLimits) {
    const levels = Math.min(limits.maxDepth, INITIAL_LEVELS);
    this.isArray = new Uint8Array(levels);
    this.members = new Uint32Array(levels);
    this.keyStart = new Float64Array(levels);
    this.keyEnd = new Float64Array(levels);
    this.expectKey = new Uint8Array(levels);
  }

  /** Bytes written so far. */
  get received(): number {
    return this.bytes;
  }

  /** Values seen so far (see `JsonBodyLimits.maxValues`). */
  get values(): number {
    return this.valueCount;
  }

  /** Feeds the next chunk; throws an ApiError (4xx) at the first byte past a limit or out of JSON. */
  write(chunk: Buffer): void {
    const base = this.bytes;
    this.bytes += chunk.length;
    if (this.bytes > this.limits.maxBytes) throw tooLarge(this.limits.maxBytes);
    this.body.append(chunk);
    let at = 0;
    if (this.inString) at = this.readString(chunk, 0, base);
    while (at < chunk.length) {
      const byte = chunk[at]!;
      if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) {
        this.inPrimitive = false;
        at += 1;
        continue;
      }
      if (this.depth === 0) {
        if (this.rootClosed) throw malformed("more data after the JSON value");
        if (byte !== LEFT_BRACE && byte !== LEFT_BRACKET) throw malformed("the body must be a JSON object or array");
      }
      switch (byte) {
        case LEFT_BRACE:
        case LEFT_BRACKET:
          this.inPrimitive = false;
          this.open(byte === LEFT_BRACKET);
          break;
        case RIGHT_BRACE:
        case RIGHT_BRACKET:
          this.inPrimitive = false;
          this.depth -= 1;
          if (this.depth === 0) this.rootClosed = true;
          break;
        case COMMA:
          this.inPrimitive = false;
          if (this.isArray[this.depth - 1] === 0) this.expectKey[this.depth - 1] = 1;
          break;
        case COLON:
          this.inPrimitive = false;
          break;
        case QUOTE:
          this.inPrimitive = false;
          this.openString(base + at + 1);
          at = this.readString(chunk, at + 1, base);
          continue;
        default:
          if (!this.inPrimitive) {
            this.inPrimitive = true;
            this.countValue();
          }
      }
      at += 1;
    }
  }

  /**
   * The whole body once it has ended within every limit, in the order written, in buffers each with an
   * ArrayBuffer of its own (transferable); undefined for a body of zero bytes.
   */
  finish(): Buffer[] | undefined {
    if (this.bytes === 0) return undefined;
    if (!this.rootClosed) throw malformed("the body ended before its JSON value did");
    return this.body.segmentsSoFar();
  }

  /** The parsed value once the body has ended; undefined for a body of zero bytes. */
  end(): unknown {
    const segments = this.finish();
    return segments === undefined ? undefined : parseJsonBytes(joinSegments(segments));
  }

  private open(array: boolean): void {
    this.countValue();
    if (this.depth >= this.limits.maxDepth) {
      throw bodyError(400, "validation_failed", this.path(), "too_deep", `nested deeper than ${this.limits.maxDepth} levels`);
    }
    const level = this.depth;
    if (level === this.isArray.length) this.growLevels();
    this.depth += 1;
    this.isArray[level] = array ? 1 : 0;
    this.members[level] = 0;
    this.keyStart[level] = -1;
    this.expectKey[level] = array ? 0 : 1;
  }

  /** Room for twice as many open containers (never more than `maxDepth`). */
  private growLevels(): void {
    const levels = Math.min(this.limits.maxDepth, this.isArray.length * 2);
    const grown = <T extends Uint8Array | Uint32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const next = make(levels);
      next.set(old);
      return next;
    };
    this.isArray = grown(this.isArray, (n) => new Uint8Array(n));
    this.members = grown(this.members, (n) => new Uint32Array(n));
    this.keyStart = grown(this.keyStart, (n) => new Float64Array(n));
    this.keyEnd = grown(this.keyEnd, (n) => new Float64Array(n));
    this.expectKey = grown(this.expectKey, (n) => new Uint8Array(n));
  }

  private openString(start: number): void {
    const level = this.depth - 1;
    this.stringIsKey = this.isArray[level] === 0 && this.expectKey[level] === 1;
    if (!this.stringIsKey) this.countValue();
    this.inString = true;
    this.stringStart = start;
    this.escaped = false;
  }

  /** Reads the string from `from` on; returns where it ended (past its closing quote) or the chunk's length. */
  private readString(chunk: Buffer, from: number, base: number): number {
    let at = from;
    if (this.escaped && at < chunk.length) {
      this.escaped = false;
      at += 1;
    }
    for (;;) {
      const quote = chunk.indexOf(QUOTE, at);
      if (quote < 0) {
        this.checkStringLength(base + chunk.length);
        this.escaped ||= backslashesBefore(chunk, at, chunk.length) % 2 === 1;
        return chunk.length;
      }
      if (backslashesBefore(chunk, at, quote) % 2 === 1) {
        at = quote + 1;
        continue;
      }
      this.checkStringLength(base + quote);
      this.closeString(base + quote);
      return quote + 1;
    }
  }

  private checkStringLength(end: number): void {
    const max = this.limits.maxStringBytes;
    if (end - this.stringStart <= max) return;
    // A key too long is named by its object: its own name is what is too long.
    const field = this.stringIsKey ? this.path(this.depth - 1) : this.path();
    throw bodyError(400, "validation_failed", field, "too_big", `a string longer than ${max} bytes`);
  }

  private closeString(end: number): void {
    this.inString = false;
    if (!this.stringIsKey) return;
    const level = this.depth - 1;
    this.keyStart[level] = this.stringStart;
    this.keyEnd[level] = end;
    this.expectKey[level] = 0;
    this.countMember(level);
  }

  private countValue(): void {
    this.valueCount += 1;
    if (this.valueCount > this.limits.maxValues) {
      throw bodyError(413, "payload_too_large", "(body)", "too_many_values", `more than ${this.limits.maxValues} values`);
    }
    if (this.depth > 0 && this.isArray[this.depth - 1] === 1) this.countMember(this.depth - 1);
  }

  private countMember(level: number): void {
    const members = this.members[level]! + 1;
    this.members[level] = members;
    if (members > this.limits.maxMembers) {
      const what = this.isArray[level] === 1 ? "elements" : "members";
      throw bodyError(400, "validation_failed", this.path(level), "too_big", `more than ${this.limits.maxMembers} ${what}`);
    }
  }

  /** The dotted path (`items.3.metadata`) of the value being read in the first `depth` open containers. */
  private path(depth = this.depth): string {
    const parts: string[] = [];
    for (let level = 0; level < depth; level++) parts.push(this.isArray[level] === 1 ? String(this.members[level]! - 1) : this.key(level));
    return parts.length > 0 ? parts.join(".") : "(body)";
  }

  private key(level: number): string {
    if (this.keyStart[level]! < 0) return "";
    const raw = this.body.slice(this.keyStart[level]!, this.keyEnd[level]!).toString("utf8");
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      return raw;
    }
  }
}
