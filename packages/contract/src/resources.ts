import { z } from "zod";
import { JOB_ERROR_CODES } from "./error-codes";
import { ChainStepSchema } from "./requests";
import { ChainStatusSchema, DeliveryStatusSchema, JobEventSourceSchema, JobStatusSchema, type JobStatus } from "./statuses";

/**
 * What the public API answers, as zod schemas: the TypeScript types of the responses are inferred from
 * them (`presenters.ts` builds exactly these, the CLI reads them), and the OpenAPI document at
 * /openapi.json is generated from them, so the code, the types and the docs cannot drift apart.
 * Objects are closed (`additionalProperties: false` in the document): a new field must be added here.
 * `id`: the schema's name in the document (`#/components/schemas/<id>`).
 */

const TimestampSchema = z.iso.datetime().meta({ description: "ISO 8601, UTC, millisecond precision" });

export const JobResultSchema = z.object({
  video_id: z.string().meta({ description: "upstream id of the extended video" }),
  url: z.string().meta({ description: "upstream URL of the video (upstream deletes it 30 days after generation)" }),
  duration: z.number().nullable().meta({ description: "total length of the extended video in seconds" }),
});

export const JobErrorSchema = z.object({
  code: z.string().meta({
    description: `the upstream's code for a refused create (e.g. "1203": the video does not exist), ${JOB_ERROR_CODES.slice(0, -1)
      .map((code) => `\`${code}\``)
      .join(", ")} or \`${JOB_ERROR_CODES.at(-1)}\``,
  }),
  message: z.string(),
});

/** An amount upstream charged, exactly as it wrote it: a non-negative decimal string ("1", "0.75"). */
export const DecimalStringSchema = z.string().regex(/^\d+(\.\d+)?$/);

export const BalanceDeductionSchema = z
  .object({
    quota: DecimalStringSchema.meta({ description: "the amount taken from the account's balance" }),
    list_price: DecimalStringSchema.meta({ description: "the task's list price" }),
  })
  .meta({ id: "BalanceDeduction" });

/** The public job object (snake_case, as upstream). */
export const JobResourceSchema = z
  .object({
    id: z.uuid(),
    batch_id: z.uuid().nullable(),
    account: z.string().meta({ description: "the Kling account the job runs on" }),
    batch_index: z
      .number()
      .int()
      .min(0)
      .nullable()
      .meta({ description: "the job's position in its batch's `items` (0-based); null for a job outside a batch" }),
    status: JobStatusSchema,
    video_id: z.string(),
    prompt: z.string(),
    negative_prompt: z.string().nullable(),
    cfg_scale: z.number().nullable(),
    callback_url: z.string().nullable(),
    metadata: z.unknown().meta({ description: "the `metadata` object given at creation, or null" }),
    upstream_task_id: z.string().nullable(),
    upstream_status: z.string().nullable().meta({ description: "the upstream task status last seen" }),
    attempts: z.number().int().min(0),
    result: JobResultSchema.nullable().meta({ description: "set when the job succeeded" }),
    error: JobErrorSchema.nullable().meta({ description: "set when the job failed or was canceled" }),
    final_unit_deduction: DecimalStringSchema.nullable().meta({
      description: "resource-pack units upstream charged for the job's task, as upstream reported it (a decimal string); null until a report carried it",
    }),
    final_balance_deduction: BalanceDeductionSchema.nullable().meta({
      description: "what upstream charged the account's balance for the task, when it reported it (newer upstream answers only)",
    }),
    created_at: TimestampSchema,
    updated_at: TimestampSchema,
    submitted_at: TimestampSchema.nullable(),
    finished_at: TimestampSchema.nullable(),
  })
  .meta({ id: "Job" });
export type JobResource = z.infer<typeof JobResourceSchema>;

/** One row of a job's append-only event log. */
export const JobEventResourceSchema = z
  .object({
    id: z.string().regex(/^\d+$/).meta({ description: "increasing per database (a bigint, as a string)" }),
    at: TimestampSchema,
    source: JobEventSourceSchema,
    type: z.string(),
    from_status: JobStatusSchema.nullable(),
    to_status: JobStatusSchema.nullable(),
    detail: z.string().nullable(),
    payload: z.unknown().meta({ description: "what was received or decided (e.g. the upstream callback body), or null" }),
  })
  .meta({ id: "JobEvent" });
export type JobEventResource = z.infer<typeof JobEventResourceSchema>;

const CountSchema = z.number().int().min(0);
export const StatusCountsSchema = z.object({
  queued: CountSchema,
  submitting: CountSchema,
  submitted: CountSchema,
  processing: CountSchema,
  succeeded: CountSchema,
  failed: CountSchema,
  canceled: CountSchema,
} satisfies Record<JobStatus, typeof CountSchema>);
export type StatusCounts = z.infer<typeof StatusCountsSchema>;

export const BatchResourceSchema = z
  .object({
    id: z.uuid(),
    name: z.string().nullable().meta({ description: "the `name` given at creation, or null" }),
    metadata: z.unknown().meta({ description: "the `metadata` object given at creation, or null" }),
    total: z.number().int().min(1),
    callback_url: z.string().nullable(),
    counts: StatusCountsSchema,
    done: z.boolean().meta({ description: "every job of the batch is final (succeeded, failed or canceled)" }),
    created_at: TimestampSchema,
  })
  .meta({ id: "Batch" });
export type BatchResource = z.infer<typeof BatchResourceSchema>;

export const BatchListSchema = z
  .object({
    data: z.array(BatchResourceSchema),
    next_cursor: z.string().nullable().meta({ description: "pass as `cursor` for the next page; null on the last page" }),
  })
  .meta({ id: "BatchList" });
export type BatchList = z.infer<typeof BatchListSchema>;

export const BatchCreatedSchema = z
  .object({
    id: z.uuid(),
    total: z.number().int().min(1),
    jobs: z.array(z.uuid()).meta({ description: "the job ids, in the order of `items`" }),
  })
  .meta({ id: "BatchCreated" });
export type BatchCreated = z.infer<typeof BatchCreatedSchema>;

export const BatchCanceledSchema = BatchResourceSchema.extend({
  canceled: z.number().int().min(1).meta({ description: "how many jobs this request canceled" }),
}).meta({ id: "BatchCanceled" });
export type BatchCanceled = z.infer<typeof BatchCanceledSchema>;

export const JobListSchema = z
  .object({
    data: z.array(JobResourceSchema),
    next_cursor: z.string().nullable().meta({ description: "pass as `cursor` for the next page; null on the last page" }),
  })
  .meta({ id: "JobList" });
export type JobList = z.infer<typeof JobListSchema>;

export const JobEventListSchema = z.object({ data: z.array(JobEventResourceSchema) }).meta({ id: "JobEventList" });
export type JobEventList = z.infer<typeof JobEventListSchema>;

/** An API key as listed: the secret itself is never shown again after creation. */
export const ApiKeyResourceSchema = z
  .object({
    id: z.uuid(),
    name: z.string().nullable(),
    prefix: z.string().meta({ description: "identifies the key: `kex_<prefix>_…`" }),
    tenant_id: z.uuid(),
    created_at: TimestampSchema,
    revoked_at: TimestampSchema.nullable(),
    last_used_at: TimestampSchema.nullable(),
  })
  .meta({ id: "ApiKey" });
export type ApiKeyResource = z.infer<typeof ApiKeyResourceSchema>;

export const ApiKeyCreatedSchema = ApiKeyResourceSchema.extend({
  key: z.string().nullable().meta({
    description: "the full key, shown in this response only: null in an idempotent replay (`Idempotent-Replayed: true`)",
  }),
}).meta({ id: "ApiKeyCreated" });
export type ApiKeyCreated = z.infer<typeof ApiKeyCreatedSchema>;

export const ApiKeyListSchema = z.object({ data: z.array(ApiKeyResourceSchema) }).meta({ id: "ApiKeyList" });
export type ApiKeyList = z.infer<typeof ApiKeyListSchema>;

export const TenantResourceSchema = z.object({ id: z.uuid(), name: z.string(), created_at: TimestampSchema }).meta({ id: "Tenant" });
export type TenantResource = z.infer<typeof TenantResourceSchema>;

export const TenantCreatedSchema = TenantResourceSchema.extend({
  webhook_secret: z.string().meta({ description: "signs the webhooks sent to this tenant's callback URLs" }),
  api_key: ApiKeyCreatedSchema.nullable().meta({
    description: "the tenant's first key, shown in this response only: null in an idempotent replay (`Idempotent-Replayed: true`)",
  }),
}).meta({ id: "TenantCreated" });
export type TenantCreated = z.infer<typeof TenantCreatedSchema>;

/** One attempt at sending an outbound webhook to the tenant's callback URL. */
export const DeliveryAttemptSchema = z.object({
  attempt: z.number().int().min(1),
  at: TimestampSchema,
  status_code: z.number().int().nullable().meta({ description: "the receiver's HTTP status; null when no answer came" }),
  latency_ms: z.number().min(0),
  error: z.string().nullable(),
});

/** An outbound webhook (signed with the tenant's webhook secret) and its delivery log. */
export const DeliveryResourceSchema = z
  .object({
    id: z.uuid(),
    event_type: z.string().meta({ description: "`extension.succeeded`, `extension.failed`, `extension.canceled` or `batch.completed`" }),
    job_id: z.uuid().nullable(),
    batch_id: z.uuid().nullable(),
    url: z.string(),
    status: DeliveryStatusSchema,
    attempts: z.number().int().min(0),
    next_attempt_at: TimestampSchema.nullable().meta({ description: "when the next attempt is due; null unless `pending`" }),
    delivered_at: TimestampSchema.nullable(),
    last_error: z.string().nullable(),
    created_at: TimestampSchema,
    attempt_log: z.array(DeliveryAttemptSchema),
  })
  .meta({ id: "Delivery" });
export type DeliveryResource = z.infer<typeof DeliveryResourceSchema>;

export const DeliveryListSchema = z.object({ data: z.array(DeliveryResourceSchema) }).meta({ id: "DeliveryList" });
export type DeliveryList = z.infer<typeof DeliveryListSchema>;

export const WebhookSecretSchema = z
  .object({ secret: z.string().meta({ description: "HMAC key of the signatures on this tenant's outbound webhooks" }) })
  .meta({ id: "WebhookSecret" });
export type WebhookSecret = z.infer<typeof WebhookSecretSchema>;

/** A chain: step n extends step n-1's result video. */
export const ChainResourceSchema = z
  .object({
    id: z.uuid(),
    status: ChainStatusSchema,
    account: z.string().meta({ description: "the Kling account every step runs on" }),
    video_id: z.string().meta({ description: "the source video the first step extends" }),
    callback_url: z.string().nullable(),
    current_step: z.number().int().min(0).meta({ description: "index of the step running (or that failed)" }),
    steps: z.array(
      ChainStepSchema.extend({
        index: z.number().int().min(0),
        job: JobResourceSchema.nullable().meta({ description: "the step's latest job; null until the step starts" }),
        attempts: z.number().int().min(0).meta({ description: "how many jobs the step has had (retries included)" }),
      }),
    ),
    final_video: JobResultSchema.nullable().meta({ description: "the last step's result once the chain succeeded" }),
    error: JobErrorSchema.nullable(),
    created_at: TimestampSchema,
    updated_at: TimestampSchema,
  })
  .meta({ id: "Chain" });
export type ChainResource = z.infer<typeof ChainResourceSchema>;

/** One Kling account as `GET /v1/accounts` shows it: its settings and state, never a credential. */
export const AccountResourceSchema = z
  .object({
    name: z.string(),
    mode: z.enum(["static", "jwt"]).meta({ description: "`static`: a bearer key (a proxy); `jwt`: access/secret key signing (the official API)" }),
    base_url: z.string(),
    path_prefix: z.string(),
    enabled: z.boolean().meta({ description: "a disabled account takes no new jobs" }),
    default: z.boolean().meta({ description: "where a job goes when neither its request nor its source video names an account" }),
    max_in_flight: z.number().int().min(0).meta({ description: "the configured parallel-task ceiling; 0 = no cap" }),
    in_flight: z.number().int().min(0).meta({ description: "slots our jobs hold on it now" }),
    callback_signing: z.boolean().meta({ description: "callbacks from this account must carry a signature (secrets are never shown)" }),
    paused_until: TimestampSchema.nullable().meta({ description: "set while upstream refuses the account (1100-1102): nothing is submitted to it until then" }),
    paused_reason: z.string().nullable().meta({ description: "upstream's code and message that paused it" }),
  })
  .meta({ id: "Account" });
export type AccountResource = z.infer<typeof AccountResourceSchema>;

export const AccountListSchema = z.object({ data: z.array(AccountResourceSchema) }).meta({ id: "AccountList" });
