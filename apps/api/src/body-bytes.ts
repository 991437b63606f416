import type { Transform } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { ApiError } from "./errors";

const FIRST_SEGMENT_BYTES = 16 * 1024;
const MAX_SEGMENT_BYTES = 1024 * 1024;

/**
 * A body's bytes as they arrive, in buffers of its own that can be handed to another thread without a
 * copy. A chunk that owns all its memory is kept as it is: Node's HTTP parser copies each piece of a body
 * it reads into a buffer of its own, so a big body arrives that way (64 KB a piece) and costs no copy
 * here. Others (small pieces, a decompressor's output, which shares its memory) are copied as they
 * arrive. One copy of a whole 64 MB body at its end held the event loop for a quarter of a second, and
 * copying each piece of a 58 MB batch still cost the event loop about 0.3 s of CPU on this machine, most
 * of it touching that much fresh memory.
 */
export class BodyBytes {
  private readonly segments: Buffer[] = [];
  private used = 0;
  private total = 0;

  get length(): number {
    return this.total;
  }

  append(chunk: Buffer): void {
    if (chunk.length >= FIRST_SEGMENT_BYTES && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) {
      this.closeLastSegment();
      this.segments.push(chunk);
      this.used = chunk.length;
      this.total += chunk.length;
      return;
    }
    let copied = 0;
    while (copied < chunk.length) {
      let segment = this.segments.at(-1);
      if (segment === undefined || this.used === segment.length) {
        // Small bodies (most) take one small buffer; big ones go up to 1 MB a buffer.
        segment = Buffer.allocUnsafeSlow(Math.min(Math.max(FIRST_SEGMENT_BYTES, this.total), MAX_SEGMENT_BYTES));
        this.segments.push(segment);
        this.used = 0;
      }
      const n = chunk.copy(segment, this.used, copied);
      this.used += n;
      copied += n;
      this.total += n;
    }
  }

  /** Bytes `[start, end)` of what was appended. */
  slice(start: number, end: number): Buffer {
    const parts: Buffer[] = [];
    let offset = 0;
    for (const segment of this.segments) {
      const from = Math.max(start - offset, 0);
      const to = Math.min(end - offset, segment.length);
      if (from < to) parts.push(segment.subarray(from, to));
      offset += segment.length;
      if (offset >= end) break;
    }
    return Buffer.concat(parts);
  }

  /** Everything appended, in order, in buffers that each own their ArrayBuffer (transferable). */
  segmentsSoFar(): Buffer[] {
    this.closeLastSegment();
    return this.segments;
  }

  /** The last segment cut to what it holds, so that whatever comes next starts a new one. */
  private closeLastSegment(): void {
    const last = this.segments.length - 1;
    if (last < 0) return;
    this.segments[last] = this.segments[last]!.subarray(0, this.used);
    this.used = this.segments[last]!.length;
  }
}

/** `segments` as one buffer. */
export const joinSegments = (segments: readonly Uint8Array[]): Buffer =>
  segments.length === 1 ? Buffer.from(segments[0]!.buffer, segments[0]!.byteOffset, segments[0]!.byteLength) : Buffer.concat(segments);

export const CONTENT_ENCODINGS = ["identity", "gzip", "deflate", "br"] as const;
export type ContentEncoding = (typeof CONTENT_ENCODINGS)[number];

export const isContentEncoding = (value: string): value is ContentEncoding => (CONTENT_ENCODINGS as readonly string[]).includes(value);

/** The decompressor for a Content-Encoding (none for `identity`): a stream, so the inflated size is capped as it grows. */
export function decoderFor(encoding: ContentEncoding): Transform | undefined {
  switch (encoding) {
    case "identity":
      return undefined;
    case "gzip":
      return createGunzip();
    case "deflate":
      return createInflate();
    case "br":
      return createBrotliDecompress();
  }
}

export const undecodable = (encoding: ContentEncoding, err: Error): ApiError =>
  new ApiError(400, "invalid_json", `the body could not be decoded (${encoding}): ${err.message}`);
