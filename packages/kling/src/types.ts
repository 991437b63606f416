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

/** A task's status in our one internal form: upstream's legacy spelling (`succeed`). */
export const KlingTaskStatusSchema = z.enum(["submitted", "processing", "succeed", "failed"]);
export type KlingTaskStatus = z.infer<typeof KlingTaskStatusSchema>;

/**
 * A task status as upstream writes it: the legacy route says `succeed`, Kling's newer (3.x) surfaces say
 * `succeeded`. Both read as `succeed`, so nothing past this package knows there are two spellings.
 */
export const KlingWireTaskStatusSchema = z
  .enum(["submitted", "processing", "succeed", "succeeded", "failed"])
  .transform((status): KlingTaskStatus => (status === "succeeded" ? "succeed" : status));

/** A deduction as we keep it: a non-negative decimal string such as "1" or "0.75" (upstream's own text). */
export const KLING_DEDUCTION_PATTERN = /^\d{1,18}(\.\d{1,18})?$/;

/**
 * An amount upstream charged (`final_unit_deduction`, a balance deduction's `quota` or `list_price`): documented
 * as a decimal string; a number is accepted too and written as a string.
 */
export const KlingDeductionAmountSchema = StringOrNumberSchema.pipe(z.string().trim().regex(KLING_DEDUCTION_PATTERN));

/** `final_balance_deduction` on newer answers: both amounts as decimal strings. */
export const KlingBalanceDeductionSchema = z.object({ quota: KlingDeductionAmountSchema, list_price: KlingDeductionAmountSchema });
export type KlingBalanceDeduction = z.infer<typeof KlingBalanceDeductionSchema>;

/** A deduction we cannot read is dropped (it stays in the stored payload): it must never make us refuse a report. */
const optionalDeduction = KlingDeductionAmountSchema.optional().catch(undefined);
const optionalBalanceDeduction = KlingBalanceDeductionSchema.optional().catch(undefined);

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

/** The legacy task object (the video-extend route's): create (partially), query, list and legacy callbacks. */
export const KlingLegacyTaskSchema = z.looseObject({
  task_id: z.string(),
  task_status: KlingWireTaskStatusSchema,
  task_status_msg: z.string().optional(),
  task_info: KlingTaskInfoSchema.optional(),
  /** Only present once the task succeeded. */
  task_result: KlingTaskResultSchema.optional(),
  /** Units charged, on finished tasks. */
  final_unit_deduction: optionalDeduction,
  /** On newer answers: `{quota, list_price}`. */
  final_balance_deduction: optionalBalanceDeduction,
  /** Unix milliseconds. */
  created_at: z.number().optional(),
  /** Unix milliseconds. */
  updated_at: z.number().optional(),
});
/** A task in our one internal form (the legacy shape, status spelled `succeed`), whatever upstream sent. */
export type KlingTask = z.output<typeof KlingLegacyTaskSchema>;

/**
 * The 3.x task shape (docs/upstream-api.md#callbacks): `id`, `status`, `status_msg`, `external_id`, `outputs[]`,
 * `billing[]`. The inner fields of `outputs[]` and `billing[]` are read as the sandbox writes them [assumed]:
 * outputs `{type: "video", id, url, duration, watermark_url}`, billing `{type: "unit", amount}` and
 * `{type: "balance", quota, list_price}`. Entries we cannot read are skipped.
 */
const KlingV3FieldsSchema = z.looseObject({
  id: z.string(),
  status: KlingWireTaskStatusSchema,
  status_msg: z.string().nullish(),
  external_id: z.string().nullish(),
  outputs: z.array(z.unknown()).nullish().catch(undefined),
  billing: z.array(z.unknown()).nullish().catch(undefined),
  created_at: z.number().optional().catch(undefined),
  updated_at: z.number().optional().catch(undefined),
});
type KlingV3Fields = z.output<typeof KlingV3FieldsSchema>;

const V3VideoOutputSchema = z.looseObject({
  type: z.literal("video").optional(),
  id: z.string(),
  url: z.string(),
  duration: StringOrNumberSchema.nullish(),
  watermark_url: z.string().optional(),
});
const V3UnitBillingSchema = z.looseObject({ type: z.literal("unit"), amount: KlingDeductionAmountSchema });
const V3BalanceBillingSchema = z.looseObject({ type: z.literal("balance"), quota: KlingDeductionAmountSchema, list_price: KlingDeductionAmountSchema });

/** What a 3.x task says, in the legacy shape's field names (`duration` may be missing: a callback's is optional). */
function fromV3(v: KlingV3Fields) {
  const videos = (v.outputs ?? []).flatMap((entry) => {
    const parsed = V3VideoOutputSchema.safeParse(entry);
    if (!parsed.success) return [];
    const { id, url, duration, watermark_url } = parsed.data;
    return [{ id, url, duration: duration ?? undefined, ...(watermark_url !== undefined ? { watermark_url } : {}) }];
  });
  let unit: string | undefined;
  let balance: KlingBalanceDeduction | undefined;
  for (const entry of v.billing ?? []) {
    const u = V3UnitBillingSchema.safeParse(entry);
    if (u.success && unit === undefined) unit = u.data.amount;
    const b = V3BalanceBillingSchema.safeParse(entry);
    if (b.success && balance === undefined) balance = { quota: b.data.quota, list_price: b.data.list_price };
  }
  return {
    task_id: v.id,
    task_status: v.status,
    task_status_msg: v.status_msg ?? undefined,
    task_info: v.external_id != null ? { external_task_id: v.external_id } : undefined,
    videos,
    final_unit_deduction: unit,
    final_balance_deduction: balance,
    created_at: v.created_at,
    updated_at: v.updated_at,
  };
}

/** Drops the keys whose value is undefined, so a normalised task reads like one upstream sent. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

const KlingV3TaskSchema = KlingV3FieldsSchema.transform((v, ctx): KlingTask => {
  const { videos, ...rest } = fromV3(v);
  const complete = videos.filter((video): video is typeof video & { duration: string } => video.duration !== undefined);
  if (complete.length < videos.length) {
    ctx.addIssue({ code: "custom", message: "a 3.x output video without a duration", path: ["outputs"] });
    return z.NEVER;
  }
  return compact({ ...rest, task_result: complete.length > 0 ? { videos: complete } : undefined });
});

/**
 * The task object of create, query and list answers, in either shape (legacy or 3.x) and either status spelling,
 * read into one form (`KlingTask`).
 */
export const KlingTaskSchema = z.union([KlingLegacyTaskSchema, KlingV3TaskSchema]);

/**
 * Callbacks carry the task object without an envelope, in the legacy or the 3.x shape. Only what we read is
 * checked (the task id and status, the failure message, the external task id, the result video's id, URL and
 * duration, the deductions); every other field passes through unread, whatever its shape or depth: a field we do
 * not use must never make us refuse, and so lose, a callback. Both shapes and both spellings read into one form.
 */
export const KlingLegacyCallbackSchema = z.looseObject({
  task_id: z.string(),
  task_status: KlingWireTaskStatusSchema,
  task_status_msg: z.string().nullish(),
  task_info: z.looseObject({ external_task_id: z.string().nullish() }).nullish(),
  task_result: z
    .looseObject({ videos: z.array(z.looseObject({ id: z.string(), url: z.string(), duration: StringOrNumberSchema.nullish() })) })
    .nullish(),
  final_unit_deduction: optionalDeduction,
  final_balance_deduction: optionalBalanceDeduction,
});
export type KlingCallback = z.output<typeof KlingLegacyCallbackSchema>;

const KlingV3CallbackSchema = KlingV3FieldsSchema.transform((v): KlingCallback => {
  const { videos, ...rest } = fromV3(v);
  return compact({ ...rest, task_result: videos.length > 0 ? { videos } : undefined });
});

export const KlingCallbackSchema = z.union([KlingLegacyCallbackSchema, KlingV3CallbackSchema]);

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
