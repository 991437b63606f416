import { z } from "zod";
import {
  BATCH_MAX_ITEMS,
  BATCH_NAME_MAX_CHARS,
  CHAIN_MAX_STEPS,
  EXTENSION_SECONDS,
  LIST_DEFAULT_LIMIT,
  LIST_MAX_LIMIT,
  MAX_VIDEO_SECONDS,
  METADATA_MAX_BYTES,
  METADATA_MAX_DEPTH,
  PROMPT_MAX_CHARS,
  URL_MAX_CHARS,
  VIDEO_ID_MAX_CHARS,
} from "./limits";
import { JobStatusSchema } from "./statuses";
import { findJsonProblem, ruleIssue, text } from "./text";

/** What clients send: bodies, query strings, path parameters and headers the API parses. */

const NOT_HTTP_URL = "must be an absolute http(s) URL";

/** `value` as an http(s) URL, or undefined: no whitespace, control characters or backslashes a parser would quietly repair. */
function parseHttpUrl(value: string): URL | undefined {
  // eslint-disable-next-line no-control-regex
  if (!/^https?:\/\/[^\s\\\x00-\x1f\x7f]+$/i.test(value)) return undefined;
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname.length > 0 ? url : undefined;
  } catch {
    return undefined;
  }
}

/** The bytes a part of a URL stands for: `%XX` as that byte, any other character as its UTF-8. */
function bytesOf(part: string): Buffer {
  const chunks: Buffer[] = [];
  for (const piece of part.split(/(%[0-9a-f]{2})/i)) {
    chunks.push(/^%[0-9a-f]{2}$/i.test(piece) ? Buffer.from([parseInt(piece.slice(1), 16)]) : Buffer.from(piece));
  }
  return Buffer.concat(chunks);
}

/**
 * The URL parser reads `written` as written, up to notation: the letter case of the scheme and host,
 * the host's and port's notation (an IDN in punycode, `2130706433` as `127.0.0.1`, a default port
 * dropped: the SSRF guard judges the address the parser reads), characters percent-encoded that may not
 * stand as they are (`"` as `%22`), and `/` for an empty path. What it would repair is refused: a host
 * taken from what follows `///` (`http:///x` reads as `http://x/`) and `.`/`..` segments that change
 * the path (`/a/../b` reads as `/b`), so the string stored and shown is the URL called.
 */
function readAsWritten(written: string, url: URL): boolean {
  const [, authority = "", rest = ""] = /^[a-z]+:\/\/([^/?#]*)(.*)$/is.exec(written) ?? [];
  if (authority === "") return false;
  const path = rest === "" || rest.startsWith("?") || rest.startsWith("#") ? `/${rest}` : rest;
  const afterScheme = url.href.slice(url.protocol.length + 2);
  return bytesOf(path).equals(bytesOf(afterScheme.slice(afterScheme.indexOf("/"))));
}

/** A URL we will call (`callback_url`): stored as written, so it must be read as written. */
export const HttpUrlSchema = text({ max: URL_MAX_CHARS })
  .superRefine((value, ctx) => {
    const url = parseHttpUrl(value);
    if (!url) ctx.addIssue({ code: "custom", message: NOT_HTTP_URL });
    else if (!readAsWritten(value, url)) {
      ctx.addIssue(
        ruleIssue(
          "url_round_trip",
          `reads as ${url.href}: write the host right after \`//\`, with no \`.\` or \`..\` path segments, so that the URL stored is the URL called`,
        ),
      );
    }
  })
  .meta({
    description:
      "an absolute http(s) URL, stored as written, so it must read as written: only notation may differ (letter case of the scheme and host, the host's and port's notation, percent-encoding, `/` for an empty path). `http:///x` (which reads as `http://x/`) and `.`/`..` path segments are refused with `rule: url_round_trip`",
  });

/**
 * A client's own JSON object, stored and shown back as sent: at most `METADATA_MAX_DEPTH` levels and
 * `METADATA_MAX_BYTES` of JSON, with no string or key `textProblem` refuses. The depth is checked
 * first and without recursion, so the size is only ever measured on a value of bounded depth.
 */
const MetadataSchema = z
  .record(z.string(), z.unknown())
  .superRefine((value, ctx) => {
    const problem = findJsonProblem(value, METADATA_MAX_DEPTH);
    if (problem) ctx.addIssue(ruleIssue(problem.rule, problem.message, problem.path));
    else if (Buffer.byteLength(JSON.stringify(value)) > METADATA_MAX_BYTES) {
      ctx.addIssue({ code: "custom", message: `must serialize to at most ${METADATA_MAX_BYTES} bytes of JSON` });
    }
  })
  .meta({
    description: `your own JSON object, shown back as sent: at most ${METADATA_MAX_BYTES} bytes of JSON, objects and arrays nested at most ${METADATA_MAX_DEPTH} levels (this object is level 1; deeper is \`rule: too_deep\`), finite numbers only`,
  });

/**
 * The Kling account a job runs on, by its configured name. Optional everywhere: without it a job runs on
 * the account that produced its source video, else the default account. An unknown or disabled account
 * is a 400; one that contradicts the video's recorded owner is a 409 `account_conflict`.
 */
export const AccountRefSchema = text({ min: 1, max: 63 }).meta({
  description:
    "the Kling account to run on (a name from `GET /v1/accounts`). Default: the account that produced the source video, else the default account. Unknown or disabled: 400; not the source video's owner: 409 `account_conflict`",
});

/** One extension job as a client submits it. Unknown fields are rejected so typos never pass silently. */
export const ExtensionCreateSchema = z.strictObject({
  video_id: text({ min: 1, max: VIDEO_ID_MAX_CHARS }),
  // Optional upstream, required by the proxy spec and by us.
  prompt: text({ min: 1, max: PROMPT_MAX_CHARS }),
  negative_prompt: text({ max: PROMPT_MAX_CHARS }).optional(),
  cfg_scale: z.number().min(0).max(1).optional(),
  callback_url: HttpUrlSchema.optional(),
  metadata: MetadataSchema.optional(),
  account: AccountRefSchema.optional(),
});
export type ExtensionCreate = z.infer<typeof ExtensionCreateSchema>;

export const BatchCreateSchema = z.strictObject({
  items: z.array(ExtensionCreateSchema).min(1).max(BATCH_MAX_ITEMS),
  // Default callback for items that name none.
  callback_url: HttpUrlSchema.optional(),
  // Default account for items that name none.
  account: AccountRefSchema.optional(),
  name: text({ min: 1, max: BATCH_NAME_MAX_CHARS }).optional().meta({ description: "your own label for the batch, shown back as sent" }),
  metadata: MetadataSchema.optional(),
});
export type BatchCreate = z.infer<typeof BatchCreateSchema>;

export const ListExtensionsQuerySchema = z.strictObject({
  status: JobStatusSchema.optional(),
  batch_id: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(LIST_MAX_LIMIT).default(LIST_DEFAULT_LIMIT),
  cursor: text({ min: 1, max: 200 }).optional(),
});
export type ListExtensionsQuery = z.infer<typeof ListExtensionsQuerySchema>;

export const ListBatchesQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(LIST_MAX_LIMIT).default(LIST_DEFAULT_LIMIT),
  cursor: text({ min: 1, max: 200 }).optional(),
});
export type ListBatchesQuery = z.infer<typeof ListBatchesQuerySchema>;

export const IdParamSchema = z.uuid();

export const IdempotencyKeySchema = text({ min: 1, max: 255 });

export const ChainStepSchema = z.strictObject({
  prompt: text({ min: 1, max: PROMPT_MAX_CHARS }),
  negative_prompt: text({ max: PROMPT_MAX_CHARS }).optional(),
  cfg_scale: z.number().min(0).max(1).optional(),
});
export type ChainStep = z.infer<typeof ChainStepSchema>;

export const ChainCreateSchema = z.strictObject({
  video_id: text({ min: 1, max: VIDEO_ID_MAX_CHARS }),
  steps: z
    .array(ChainStepSchema)
    .min(1)
    .max(
      CHAIN_MAX_STEPS,
      `at most ${CHAIN_MAX_STEPS} steps: each extension adds ~${EXTENSION_SECONDS} s and upstream refuses videos over ${MAX_VIDEO_SECONDS} s (3 minutes)`,
    ),
  callback_url: HttpUrlSchema.optional(),
  /** Every step runs on this account (a chain is pinned to its first step's account). */
  account: AccountRefSchema.optional(),
});
export type ChainCreate = z.infer<typeof ChainCreateSchema>;

export const TenantCreateSchema = z.strictObject({ name: text({ min: 1, max: 100 }) });
export type TenantCreate = z.infer<typeof TenantCreateSchema>;

export const KeyCreateSchema = z.strictObject({
  name: text({ min: 1, max: 100 }).optional(),
  /** Admin (API_TOKEN) only: create the key for this tenant. */
  tenant_id: z.uuid().optional(),
});
export type KeyCreate = z.infer<typeof KeyCreateSchema>;

/** `GET /v1/keys`, as documented. The route reads it by hand: a malformed id is a 404, and a tenant key's `tenant_id` is ignored. */
export const ListApiKeysQuerySchema = z.object({
  tenant_id: z.uuid().optional().meta({ description: "admin token only: another tenant's keys" }),
});
