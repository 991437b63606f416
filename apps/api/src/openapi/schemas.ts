import { JobStatusSchema, type NoChangeReason } from "@kex/core";
import { z } from "zod";

/**
 * Response shapes of the operational routes (health, readiness, the upstream callback receiver). The
 * public resources (jobs, batches, keys, errors) are in packages/core `resource-schemas.ts`.
 */

export const HealthSchema = z.object({ status: z.literal("ok") }).meta({ id: "Health" });

const CheckSchema = z.enum(["ok", "unreachable"]);

export const ReadinessSchema = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    checks: z.object({
      postgres: CheckSchema,
      redis: CheckSchema,
      upstream_account: z
        .union([
          z.literal("ok"),
          z.object({
            status: z.literal("paused"),
            code: z.number().int().meta({ description: "the upstream code that paused submissions (1100-1102)" }),
            message: z.string(),
            until: z.iso.datetime(),
          }),
        ])
        .meta({ description: "`paused` while upstream refuses the account: no job is submitted until `until`" }),
    }),
  })
  .meta({ id: "Readiness" });

export const CallbackAckSchema = z
  .object({
    ok: z.literal(true),
    changed: z.boolean().meta({ description: "false for duplicates, stale and out-of-order callbacks (still logged as events)" }),
    status: JobStatusSchema.meta({ description: "the job's status after this callback" }),
    reason: z
      .enum(["duplicate", "stale", "terminal", "not_applicable"] as const satisfies readonly NoChangeReason[])
      .optional()
      .meta({ description: "why nothing changed" }),
  })
  .meta({ id: "CallbackAck" });
