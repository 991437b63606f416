import { z } from "zod";
import { DEFAULT_SANDBOX_OPTIONS, mergeOptions } from "./options";
import type { StartSandboxOptions } from "./sandbox";

const optionalNumber = z.coerce.number().optional();
const optionalRate = z.coerce.number().min(0).max(1).optional();
const optionalMs = z.coerce.number().int().min(0).optional();
const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value === "" ? undefined : value));

/** The standalone sandbox's environment. Everything but the port has a sandbox-side default (see README.md). */
export const SandboxEnvSchema = z
  .object({
    SANDBOX_PORT: z.coerce.number().int().min(0).max(65535).default(4010),
    SANDBOX_HOST: z.string().min(1).default("127.0.0.1"),
    SANDBOX_API_KEY: z.string().min(1).default("sandbox-key"),
    SANDBOX_ACCESS_KEY: optionalString,
    SANDBOX_SECRET_KEY: optionalString,
    SANDBOX_PATH_PREFIX: z
      .string()
      .regex(/^(\/[\w.-]+)*$/, 'must be "" or like "/kling"')
      .default("/kling"),
    SANDBOX_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
    SANDBOX_MAX_CONCURRENCY: z.coerce.number().int().min(0).default(10),
    SANDBOX_EXTEND_SECONDS: optionalNumber,
    SANDBOX_PROCESSING_DELAY_MS: optionalMs,
    SANDBOX_COMPLETE_DELAY_MIN_MS: optionalMs,
    SANDBOX_COMPLETE_DELAY_MAX_MS: optionalMs,
    SANDBOX_RESPONSE_DELAY_MS: optionalMs,
    SANDBOX_CALLBACK_DELAY_MS: optionalMs,
    SANDBOX_CALLBACK_RETRIES: z.coerce.number().int().min(0).max(20).optional(),
    SANDBOX_CALLBACK_ON_SUBMITTED: z.enum(["true", "false"]).optional(),
    SANDBOX_FAILURE_RATE: optionalRate,
    SANDBOX_ERROR_5XX_RATE: optionalRate,
    SANDBOX_RATE_LIMIT_RATE: optionalRate,
    SANDBOX_ACCEPT_THEN_FAIL_RATE: optionalRate,
    SANDBOX_CALLBACK_DROP_RATE: optionalRate,
    SANDBOX_CALLBACK_DUPLICATE_RATE: optionalRate,
    SANDBOX_CALLBACK_REORDER_RATE: optionalRate,
    SANDBOX_ACCOUNT_ERROR: z.enum(["1100", "1101", "1102"]).optional(),
    SANDBOX_ID_PREFIX: optionalString,
    SANDBOX_IGNORE_EXTERNAL_TASK_ID: z.enum(["true", "false"]).optional(),
    SANDBOX_OTHER_CLIENT_SLOTS: z.coerce.number().int().min(0).optional(),
    SANDBOX_STATUS_SPELLING: z.enum(["succeed", "succeeded"]).optional(),
    SANDBOX_CALLBACK_SHAPE: z.enum(["legacy", "v3"]).optional(),
    SANDBOX_FAIL_ON_CREATE_RATE: optionalRate,
    SANDBOX_UNIT_DEDUCTION: optionalString,
    /** "quota,list_price", e.g. "0.8,1.0". */
    SANDBOX_BALANCE_DEDUCTION: optionalString,
    /** Space-separated `whsec_…` secrets (two during a rotation). */
    SANDBOX_WEBHOOK_SECRETS: optionalString,
    SANDBOX_CLOCK_OFFSET_MS: z.coerce.number().int().optional(),
    SANDBOX_DOWNLOAD_DELAY_MS: optionalMs,
    SANDBOX_DOWNLOAD_CHUNK_DELAY_MS: optionalMs,
    SANDBOX_DOWNLOAD_ERROR_RATE: optionalRate,
    SANDBOX_DOWNLOAD_TRUNCATE_RATE: optionalRate,
    SANDBOX_DOWNLOAD_RESET_RATE: optionalRate,
    SANDBOX_SEED: z.coerce.number().int().optional(),
  })
  .refine((env) => (env.SANDBOX_ACCESS_KEY === undefined) === (env.SANDBOX_SECRET_KEY === undefined), {
    message: "SANDBOX_ACCESS_KEY and SANDBOX_SECRET_KEY must be set together",
  });
export type SandboxEnv = z.infer<typeof SandboxEnvSchema>;

/** Parses the environment once; throws a readable error naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): StartSandboxOptions {
  const parsed = SandboxEnvSchema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid sandbox environment:\n${z.prettifyError(parsed.error)}`);
  const e = parsed.data;
  const options: StartSandboxOptions = {
    port: e.SANDBOX_PORT,
    host: e.SANDBOX_HOST,
    apiKey: e.SANDBOX_API_KEY,
    accessKey: e.SANDBOX_ACCESS_KEY ?? null,
    secretKey: e.SANDBOX_SECRET_KEY ?? null,
    pathPrefix: e.SANDBOX_PATH_PREFIX,
    publicUrl: e.SANDBOX_PUBLIC_URL ?? null,
    maxConcurrency: e.SANDBOX_MAX_CONCURRENCY,
    extendSeconds: e.SANDBOX_EXTEND_SECONDS,
    processingDelayMs: e.SANDBOX_PROCESSING_DELAY_MS,
    completeDelayMinMs: e.SANDBOX_COMPLETE_DELAY_MIN_MS,
    completeDelayMaxMs: e.SANDBOX_COMPLETE_DELAY_MAX_MS,
    responseDelayMs: e.SANDBOX_RESPONSE_DELAY_MS,
    callbackDelayMs: e.SANDBOX_CALLBACK_DELAY_MS,
    callbackRetries: e.SANDBOX_CALLBACK_RETRIES,
    callbackOnSubmitted: e.SANDBOX_CALLBACK_ON_SUBMITTED === undefined ? undefined : e.SANDBOX_CALLBACK_ON_SUBMITTED === "true",
    failureRate: e.SANDBOX_FAILURE_RATE,
    error5xxRate: e.SANDBOX_ERROR_5XX_RATE,
    rateLimitRate: e.SANDBOX_RATE_LIMIT_RATE,
    acceptThenFailRate: e.SANDBOX_ACCEPT_THEN_FAIL_RATE,
    callbackDropRate: e.SANDBOX_CALLBACK_DROP_RATE,
    callbackDuplicateRate: e.SANDBOX_CALLBACK_DUPLICATE_RATE,
    callbackReorderRate: e.SANDBOX_CALLBACK_REORDER_RATE,
    accountError: e.SANDBOX_ACCOUNT_ERROR === undefined ? undefined : (Number(e.SANDBOX_ACCOUNT_ERROR) as 1100 | 1101 | 1102),
    idPrefix: e.SANDBOX_ID_PREFIX,
    ignoreExternalTaskId: bool(e.SANDBOX_IGNORE_EXTERNAL_TASK_ID),
    otherClientSlots: e.SANDBOX_OTHER_CLIENT_SLOTS,
    statusSpelling: e.SANDBOX_STATUS_SPELLING,
    callbackShape: e.SANDBOX_CALLBACK_SHAPE,
    failOnCreateRate: e.SANDBOX_FAIL_ON_CREATE_RATE,
    unitDeduction: e.SANDBOX_UNIT_DEDUCTION,
    balanceDeduction: balance(e.SANDBOX_BALANCE_DEDUCTION),
    webhookSecrets: e.SANDBOX_WEBHOOK_SECRETS?.split(/\s+/).filter((secret) => secret !== ""),
    clockOffsetMs: e.SANDBOX_CLOCK_OFFSET_MS,
    downloadDelayMs: e.SANDBOX_DOWNLOAD_DELAY_MS,
    downloadChunkDelayMs: e.SANDBOX_DOWNLOAD_CHUNK_DELAY_MS,
    downloadErrorRate: e.SANDBOX_DOWNLOAD_ERROR_RATE,
    downloadTruncateRate: e.SANDBOX_DOWNLOAD_TRUNCATE_RATE,
    downloadResetRate: e.SANDBOX_DOWNLOAD_RESET_RATE,
    seed: e.SANDBOX_SEED,
  };
  // Unset knobs fall through to the sandbox defaults.
  const set: StartSandboxOptions = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as StartSandboxOptions;
  // Values the schema above leaves to the options' own rules (id prefix, deductions, secrets), checked one by one.
  const problems: string[] = [];
  for (const [key, variable] of Object.entries(CHECKED_BY_OPTIONS)) {
    const value = set[key as keyof StartSandboxOptions];
    if (value === undefined) continue;
    try {
      mergeOptions({ ...DEFAULT_SANDBOX_OPTIONS }, { [key]: value });
    } catch (err) {
      problems.push(`${variable}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (problems.length > 0) throw new Error(`invalid sandbox environment:\n${problems.join("\n")}`);
  return set;
}

const CHECKED_BY_OPTIONS: Readonly<Record<string, string>> = {
  idPrefix: "SANDBOX_ID_PREFIX",
  unitDeduction: "SANDBOX_UNIT_DEDUCTION",
  balanceDeduction: "SANDBOX_BALANCE_DEDUCTION",
  webhookSecrets: "SANDBOX_WEBHOOK_SECRETS",
};

function bool(value: "true" | "false" | undefined): boolean | undefined {
  return value === undefined ? undefined : value === "true";
}

/** "quota,list_price" → the deduction object; anything else is left for the options' check to refuse. */
function balance(value: string | undefined): { quota: string; list_price: string } | undefined {
  if (value === undefined) return undefined;
  const [quota = "", listPrice = "", ...rest] = value.split(",").map((part) => part.trim());
  return rest.length > 0 ? { quota, list_price: `${listPrice},${rest.join(",")}` } : { quota, list_price: listPrice };
}
