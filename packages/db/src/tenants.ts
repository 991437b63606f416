import { randomUUID } from "node:crypto";
import { generateApiKey, newWebhookSecret } from "@kex/core";
import type { Db } from "./client";
import type { ApiKey, Tenant } from "./generated/client";

/** The built-in tenant (created by migration): everything from before tenants, and what API_TOKEN acts as. */
export const DEFAULT_TENANT_ID = "00000000-0000-4000-8000-000000000001";

export async function createTenant(db: Db, name: string): Promise<Tenant> {
  return db.prisma.tenant.create({ data: { id: randomUUID(), name, webhookSecret: newWebhookSecret() } });
}

export function getTenant(db: Db, id: string): Promise<Tenant | null> {
  return db.prisma.tenant.findUnique({ where: { id } });
}

/** The tenant's signing secret, created on first use (the default tenant is made by a migration without one). */
export async function ensureWebhookSecret(db: Db, tenantId: string): Promise<string> {
  const tenant = await db.prisma.tenant.findUniqueOrThrow({ where: { id: tenantId } });
  if (tenant.webhookSecret) return tenant.webhookSecret;
  await db.prisma.tenant.updateMany({ where: { id: tenantId, webhookSecret: null }, data: { webhookSecret: newWebhookSecret() } });
  return (await db.prisma.tenant.findUniqueOrThrow({ where: { id: tenantId } })).webhookSecret!;
}

/** Stores a new key (hashed) and returns it with the secret, which is never retrievable again. */
export async function createApiKey(db: Db, args: { tenantId: string; name?: string | null }): Promise<{ row: ApiKey; key: string }> {
  const { key, prefix, hash } = generateApiKey();
  const row = await db.prisma.apiKey.create({ data: { id: randomUUID(), tenantId: args.tenantId, name: args.name ?? null, prefix, keyHash: hash } });
  return { row, key };
}

export function findApiKeyByPrefix(db: Db, prefix: string): Promise<ApiKey | null> {
  return db.prisma.apiKey.findUnique({ where: { prefix } });
}

export function getApiKey(db: Db, id: string): Promise<ApiKey | null> {
  return db.prisma.apiKey.findUnique({ where: { id } });
}

export function listApiKeys(db: Db, tenantId: string): Promise<ApiKey[]> {
  return db.prisma.apiKey.findMany({ where: { tenantId }, orderBy: { createdAt: "desc" } });
}

/** Revokes a key of this tenant; null if the tenant has no such key. Revoking twice keeps the first time. */
export async function revokeApiKey(db: Db, tenantId: string, id: string, now = new Date()): Promise<ApiKey | null> {
  await db.prisma.apiKey.updateMany({ where: { id, tenantId, revokedAt: null }, data: { revokedAt: now } });
  return db.prisma.apiKey.findFirst({ where: { id, tenantId } });
}

export async function touchApiKey(db: Db, id: string, now = new Date()): Promise<void> {
  await db.prisma.apiKey.updateMany({ where: { id }, data: { lastUsedAt: now } });
}
