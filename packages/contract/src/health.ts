import { z } from "zod";

/** Answers of the operational routes, for load balancers and orchestrators. */

export const HealthSchema = z.object({ status: z.literal("ok") }).meta({ id: "Health" });
export type Health = z.infer<typeof HealthSchema>;

const CheckSchema = z.enum(["ok", "unreachable"]);

const AccountCheckSchema = z.union([
  z.literal("ok"),
  z.object({
    status: z.literal("paused"),
    code: z.number().int().meta({ description: "the upstream code that paused submissions (1100-1102)" }),
    message: z.string(),
    until: z.iso.datetime(),
  }),
]);

export const ReadinessSchema = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    queue_backend: z.enum(["redis", "postgres"]).meta({ description: "where the queue lives (`QUEUE_BACKEND`)" }),
    checks: z.object({
      postgres: CheckSchema,
      queue: CheckSchema.meta({ description: "the queue's store answers: Redis, or the Postgres database of the queue" }),
      upstream_account: AccountCheckSchema.meta({
        description: "the default account: `paused` while upstream refuses it, no job of it is submitted until `until`",
      }),
      accounts: z
        .record(z.string(), AccountCheckSchema)
        .meta({ description: "every enabled account by name, as `upstream_account`; not ready once every enabled account is paused" }),
    }),
  })
  .meta({ id: "Readiness" });
export type Readiness = z.infer<typeof ReadinessSchema>;
