import type { Db } from "@kex/db";

/** The rows a client request can create: a refused request must leave every count as it was. */
export async function countRows(db: Db): Promise<Record<"jobs" | "batches" | "chains" | "apiKeys" | "tenants", number>> {
  const [jobs, batches, chains, apiKeys, tenants] = await Promise.all([
    db.prisma.job.count(),
    db.prisma.batch.count(),
    db.prisma.chain.count(),
    db.prisma.apiKey.count(),
    db.prisma.tenant.count(),
  ]);
  return { jobs, batches, chains, apiKeys, tenants };
}
