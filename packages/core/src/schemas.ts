import { z } from "zod";
import { JOB_STATUSES } from "./job-status";

/** Upstream limits (docs/upstream-api.md#create-an-extension-task). */
export const PROMPT_MAX_CHARS = 2500;
export const VIDEO_ID_MAX_CHARS = 256;
export const URL_MAX_CHARS = 2048;
export const METADATA_MAX_BYTES = 8192;
export const BATCH_MAX_ITEMS = 10_000;
export const LIST_DEFAULT_LIMIT = 50;
export const LIST_MAX_LIMIT = 200;

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

export const JobStatusSchema = z.enum(JOB_STATUSES).meta({ id: "JobStatus" });

export const ListExtensionsQuerySchema = z.strictObject({
  status: JobStatusSchema.optional(),
  batch_id: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(LIST_MAX_LIMIT).default(LIST_DEFAULT_LIMIT),
  cursor: z.string().min(1).max(200).optional(),
});
export type ListExtensionsQuery = z.infer<typeof ListExtensionsQuerySchema>;

export const IdParamSchema = z.uuid();

export const IdempotencyKeySchema = z.string().min(1).max(255);

/** A zod issue flattened for the public error body: which field, which rule, in words. */
export const ValidationDetailSchema = z.object({
  field: z.string().meta({ description: "dotted path of the bad field (`items.3.prompt`), `(body)` for the whole body" }),
  rule: z.string().meta({ description: "the zod issue code (`too_big`, `invalid_type`, …) or `unknown_field`" }),
  message: z.string(),
}).meta({ id: "ValidationDetail" });
export type ValidationDetail = z.infer<typeof ValidationDetailSchema>;

export function toValidationDetails(error: z.ZodError): ValidationDetail[] {
  return error.issues.map((issue) => {
    const base = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      return { field: base ? `${base}.${issue.keys.join(",")}` : issue.keys.join(","), rule: "unknown_field", message: `unknown field(s): ${issue.keys.join(", ")}` };
    }
    return { field: base || "(body)", rule: issue.code, message: issue.message };
  });
}

/** Upstream video rules (docs/upstream-api.md#video-length-and-retention): each extension adds about 4.5 s; a video may not exceed 3 minutes. */
export const EXTENSION_SECONDS = 4.5;
export const MAX_VIDEO_SECONDS = 180;
export const CHAIN_MAX_STEPS = Math.floor(MAX_VIDEO_SECONDS / EXTENSION_SECONDS);

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
