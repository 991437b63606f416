import { z } from "zod";
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
    seed: e.SANDBOX_SEED,
  };
  // Unset knobs fall through to the sandbox defaults.
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as StartSandboxOptions;
}
