import { z } from "zod";
import {
  BATCH_MAX_ITEMS,
  CHAIN_MAX_STEPS,
  EXTENSION_SECONDS,
  LIST_DEFAULT_LIMIT,
  LIST_MAX_LIMIT,
  MAX_VIDEO_SECONDS,
  METADATA_MAX_BYTES,
  PROMPT_MAX_CHARS,
  URL_MAX_CHARS,
  VIDEO_ID_MAX_CHARS,
} from "./limits";
import { JobStatusSchema } from "./statuses";

/** What clients send: bodies, query strings, path parameters and headers the API parses. */

export const HttpUrlSchema = z
  .string()
  .max(URL_MAX_CHARS)
  .refine((value) => {
    // The stored string must be the URL itself: no whitespace, control characters or backslashes
    // that a URL parser would quietly repair.
    // eslint-disable-next-line no-control-regex
    if (!/^https?:\/\/[^\s\\\x00-\x1f\x7f]+$/i.test(value)) return false;
    try {
      const url = new URL(value);
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname.length > 0;
    } catch {
      return false;
    }
  }, "must be an absolute http(s) URL");

const MetadataSchema = z
  .record(z.string(), z.unknown())
  .refine(
    (value) => Buffer.byteLength(JSON.stringify(value)) <= METADATA_MAX_BYTES,
    `must serialize to at most ${METADATA_MAX_BYTES} bytes of JSON`,
  );

/** One extension job as a client submits it. Unknown fields are rejected so typos never pass silently. */
export const ExtensionCreateSchema = z.strictObject({
  video_id: z.string().min(1).max(VIDEO_ID_MAX_CHARS),
  // Optional upstream, required by the proxy spec and by us.
  prompt: z.string().min(1).max(PROMPT_MAX_CHARS),
  negative_prompt: z.string().max(PROMPT_MAX_CHARS).optional(),
  cfg_scale: z.number().min(0).max(1).optional(),
  callback_url: HttpUrlSchema.optional(),
  metadata: MetadataSchema.optional(),
});
export type ExtensionCreate = z.infer<typeof ExtensionCreateSchema>;

export const BatchCreateSchema = z.strictObject({
  items: z.array(ExtensionCreateSchema).min(1).max(BATCH_MAX_ITEMS),
  // Default callback for items that name none.
  callback_url: HttpUrlSchema.optional(),
});
export type BatchCreate = z.infer<typeof BatchCreateSchema>;

export const ListExtensionsQuerySchema = z.strictObject({
  status: JobStatusSchema.optional(),
  batch_id: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(LIST_MAX_LIMIT).default(LIST_DEFAULT_LIMIT),
  cursor: z.string().min(1).max(200).optional(),
});
export type ListExtensionsQuery = z.infer<typeof ListExtensionsQuerySchema>;

export const IdParamSchema = z.uuid();

export const IdempotencyKeySchema = z.string().min(1).max(255);

export const ChainStepSchema = z.strictObject({
  prompt: z.string().min(1).max(PROMPT_MAX_CHARS),
  negative_prompt: z.string().max(PROMPT_MAX_CHARS).optional(),
  cfg_scale: z.number().min(0).max(1).optional(),
});
export type ChainStep = z.infer<typeof ChainStepSchema>;

export const ChainCreateSchema = z.strictObject({
  video_id: z.string().min(1).max(VIDEO_ID_MAX_CHARS),
  steps: z
    .array(ChainStepSchema)
    .min(1)
    .max(
      CHAIN_MAX_STEPS,
      `at most ${CHAIN_MAX_STEPS} steps: each extension adds ~${EXTENSION_SECONDS} s and upstream refuses videos over ${MAX_VIDEO_SECONDS} s (3 minutes)`,
    ),
  callback_url: HttpUrlSchema.optional(),
});
export type ChainCreate = z.infer<typeof ChainCreateSchema>;

export const TenantCreateSchema = z.strictObject({ name: z.string().min(1).max(100) });
export type TenantCreate = z.infer<typeof TenantCreateSchema>;

export const KeyCreateSchema = z.strictObject({
  name: z.string().min(1).max(100).optional(),
  /** Admin (API_TOKEN) only: create the key for this tenant. */
  tenant_id: z.uuid().optional(),
});
export type KeyCreate = z.infer<typeof KeyCreateSchema>;

/** `GET /v1/keys`, as documented. The route reads it by hand: a malformed id is a 404, and a tenant key's `tenant_id` is ignored. */
export const ListApiKeysQuerySchema = z.object({
  tenant_id: z.uuid().optional().meta({ description: "admin token only: another tenant's keys" }),
});
