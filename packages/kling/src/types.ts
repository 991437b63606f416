import { z } from "zod";

/**
 * Wire shapes of the Kling video-extension API (docs/upstream-api.md).
 * Parsing is deliberately tolerant: unknown fields pass through, optional fields may be missing, and numbers
 * that upstream documents as strings (durations, unit deductions) are accepted either way and normalised to
 * strings, because proxies in front of Kling do not all agree on that detail.
 */

/** Documented upstream limits (docs/upstream-api.md#create-an-extension-task). */
export const KLING_PROMPT_MAX_CHARS = 2500;
export const KLING_NEGATIVE_PROMPT_MAX_CHARS = 2500;
export const KLING_CFG_SCALE_MIN = 0;
export const KLING_CFG_SCALE_MAX = 1;
/** An extended video may not exceed 3 minutes in total. */
export const KLING_MAX_VIDEO_SECONDS = 180;
/** Videos, their ids and URLs are deleted this long after generation. */
export const KLING_VIDEO_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
/** List endpoint ranges. */
export const KLING_PAGE_NUM_MAX = 1000;
export const KLING_PAGE_SIZE_MAX = 500;

const StringOrNumberSchema = z.union([z.string(), z.number().transform((n) => String(n))]);

export const KlingTaskStatusSchema = z.enum(["submitted", "processing", "succeed", "failed"]);
export type KlingTaskStatus = z.infer<typeof KlingTaskStatusSchema>;

export const KlingVideoSchema = z.looseObject({
  id: z.string(),
  url: z.string(),
  /** Total length of the (whole, extended) video in seconds, e.g. "9.5". */
  duration: StringOrNumberSchema,
  watermark_url: z.string().optional(),
});
export type KlingVideo = z.infer<typeof KlingVideoSchema>;

export const KlingParentVideoSchema = z.looseObject({
  id: z.string(),
  url: z.string().optional(),
  duration: StringOrNumberSchema.optional(),
});
export type KlingParentVideo = z.infer<typeof KlingParentVideoSchema>;

export const KlingTaskInfoSchema = z.looseObject({
  external_task_id: z.string().optional(),
  parent_video: KlingParentVideoSchema.optional(),
});
export type KlingTaskInfo = z.infer<typeof KlingTaskInfoSchema>;

export const KlingTaskResultSchema = z.looseObject({
  videos: z.array(KlingVideoSchema),
});
export type KlingTaskResult = z.infer<typeof KlingTaskResultSchema>;

/** The task object returned by create (partially), query and list. */
export const KlingTaskSchema = z.looseObject({
  task_id: z.string(),
  task_status: KlingTaskStatusSchema,
  task_status_msg: z.string().optional(),
  task_info: KlingTaskInfoSchema.optional(),
  /** Only present once `task_status` is `succeed`. */
  task_result: KlingTaskResultSchema.optional(),
  final_unit_deduction: StringOrNumberSchema.optional(),
  /** Unix milliseconds. */
  created_at: z.number().optional(),
  /** Unix milliseconds. */
  updated_at: z.number().optional(),
});
export type KlingTask = z.infer<typeof KlingTaskSchema>;

/**
 * Callbacks carry the same flat task object as a query, with no envelope, and are not signed. Only
 * what we read is checked (the task id and status, the failure message, `task_info.external_task_id`,
 * the result video's id, URL and duration); every other field passes through unread, whatever its
 * shape or depth: a field we do not use must never make us refuse, and so lose, a callback.
 */
export const KlingCallbackSchema = z.looseObject({
  task_id: z.string(),
  task_status: KlingTaskStatusSchema,
  task_status_msg: z.string().nullish(),
  task_info: z.looseObject({ external_task_id: z.string().nullish() }).nullish(),
  task_result: z
    .looseObject({ videos: z.array(z.looseObject({ id: z.string(), url: z.string(), duration: StringOrNumberSchema.nullish() })) })
    .nullish(),
});
export type KlingCallback = z.infer<typeof KlingCallbackSchema>;

/** Body of `POST {prefix}/v1/videos/video-extend`. `prompt` is optional upstream but required by the proxy and by us. */
export const KlingCreateRequestSchema = z.object({
  video_id: z.string().min(1),
  prompt: z.string().min(1).max(KLING_PROMPT_MAX_CHARS),
  negative_prompt: z.string().max(KLING_NEGATIVE_PROMPT_MAX_CHARS).optional(),
  cfg_scale: z.number().min(KLING_CFG_SCALE_MIN).max(KLING_CFG_SCALE_MAX).optional(),
  callback_url: z.url({ protocol: /^https?$/ }).optional(),
  external_task_id: z.string().min(1).optional(),
});
export type KlingCreateRequest = z.infer<typeof KlingCreateRequestSchema>;

/** Every response is wrapped in this envelope; errors carry no `data`. */
export const KlingEnvelopeSchema = z.looseObject({
  code: z.number(),
  message: z.string().optional(),
  request_id: z.string().optional(),
  data: z.unknown().optional(),
});
export type KlingEnvelope = z.infer<typeof KlingEnvelopeSchema>;
