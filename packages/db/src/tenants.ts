import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { Db, DbOrTx } from "./client";
import type { ApiKey, Tenant } from "./generated/client";

/** The built-in tenant (created by migration): everything from before tenants, and what API_TOKEN acts as. */
export const DEFAULT_TENANT_ID = "00000000-0000-4000-8000-000000000001";

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}

export async function createTenant(db: DbOrTx, name: string): Promise<Tenant> {
  return db.tenant.create({ data: { id: randomUUID(), name, webhookSecret: newWebhookSecret() } });
}

export function getTenant(db: DbOrTx, id: string): Promise<Tenant | null> {
  return db.tenant.findUnique({ where: { id } });
}

/** The tenant's signing secret, created on first use (the default tenant is made by a migration without one). */
export async function ensureWebhookSecret(db: Db, tenantId: string): Promise<string> {
  const tenant = await db.tenant.findUniqueOrThrow({ where: { id: tenantId } });
  if (tenant.webhookSecret) return tenant.webhookSecret;
  await db.tenant.updateMany({ where: { id: tenantId, webhookSecret: null }, data: { webhookSecret: newWebhookSecret() } });
  return (await db.tenant.findUniqueOrThrow({ where: { id: tenantId } })).webhookSecret!;
}

const KEY_PATTERN = /^kex_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** `kex_<12-char prefix>_<32 random bytes, base64url>`: the prefix identifies the key, the rest is the secret. */
export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const prefix = randomBytes(9).toString("base64url").toLowerCase().replace(/[^a-z0-9]/g, "0").slice(0, 12);
  const key = `kex_${prefix}_${randomBytes(32).toString("base64url")}`;
  return { key, prefix, hash: hashKey(key) };
}

export function parseApiKey(key: string): { prefix: string } | null {
  const match = KEY_PATTERN.exec(key);
  return match ? { prefix: match[1]! } : null;
}

/** Constant-time check of a presented key against a stored hash. */
export function apiKeyMatches(key: string, storedHash: string): boolean {
  const a = Buffer.from(hashKey(key), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Stores a new key (hashed) and returns it with the secret, which is never retrievable again. */
export async function createApiKey(db: DbOrTx, args: { tenantId: string; name?: string | null }): Promise<{ row: ApiKey; key: string }> {
  const { key, prefix, hash } = generateApiKey();
  const row = await db.apiKey.create({ data: { id: randomUUID(), tenantId: args.tenantId, name: args.name ?? null, prefix, keyHash: hash } });
  return { row, key };
}

export function findApiKeyByPrefix(db: DbOrTx, prefix: string): Promise<ApiKey | null> {
  return db.apiKey.findUnique({ where: { prefix } });
}

export function getApiKey(db: DbOrTx, id: string): Promise<ApiKey | null> {
  return db.apiKey.findUnique({ where: { id } });
}

export function listApiKeys(db: DbOrTx, tenantId: string): Promise<ApiKey[]> {
  return db.apiKey.findMany({ where: { tenantId }, orderBy: { createdAt: "desc" } });
}

/** Revokes a key of this tenant; null if the tenant has no such key. Revoking twice keeps the first time. */
export async function revokeApiKey(db: DbOrTx, tenantId: string, id: string, now = new Date()): Promise<ApiKey | null> {
  await db.apiKey.updateMany({ where: { id, tenantId, revokedAt: null }, data: { revokedAt: now } });
  return db.apiKey.findFirst({ where: { id, tenantId } });
}

export async function touchApiKey(db: DbOrTx, id: string, now = new Date()): Promise<void> {
  await db.apiKey.updateMany({ where: { id }, data: { lastUsedAt: now } });
}
