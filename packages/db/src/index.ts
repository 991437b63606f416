// Prisma (the ORM of record) for ordinary queries in the top-level files; the hot statements as raw
// SQL on plain pg in sql/*.ts; both behind the one `Db` handle (client.ts).
export * from "./client";
export type { Queryable } from "./queryable";
export { JOB_SELECT, setClause, type JobColumns } from "./columns";
export * from "./slot-rule";
export * from "./storable";
export * from "./status-counts";
export * from "./jobs";
export * from "./batches";
export type { Batch, Chain, Job, JobEvent, EventSource } from "./generated/client";
export * from "./tenants";
export type { Tenant, ApiKey } from "./generated/client";
export * from "./idempotency";
export * from "./deliveries";
export * from "./chains";
export * from "./sql";
export * from "./batch-items";
