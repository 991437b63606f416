import {
  ApiKeyCreatedSchema,
  ApiKeyListSchema,
  ApiKeyResourceSchema,
  IdParamSchema,
  KeyCreateSchema,
  ListApiKeysQuerySchema,
  TenantCreatedSchema,
  TenantCreateSchema,
  TenantResourceSchema,
  toApiKeyResource,
  toTenantResource,
} from "@kex/contract";
import type { Logger } from "@kex/core";
import { createApiKey, createTenant, getApiKey, getTenant, listApiKeys, revokeApiKey, type Db } from "@kex/db";
import { Router } from "express";
import { authOf } from "../auth";
import { ApiError, notFound, parseOr400, idParam } from "../errors";
import { IdParams, TAGS, v1 } from "../openapi/operations";

/**
 * Tenants and API keys. Keys are stored hashed: the full key is in the creation response only.
 * A key manages its own tenant's keys; the bootstrap API_TOKEN (admin) creates tenants and may act
 * on any tenant's keys by naming `tenant_id`.
 */
export function keyRoutes(deps: { db: Db; logger: Logger }): Router {
  const { db } = deps;
  const router = Router();

  router.post("/tenants", async (req, res) => {
    const auth = authOf(res);
    if (!auth.admin) throw new ApiError(403, "forbidden", "only the admin token (API_TOKEN) can create tenants");
    const body = parseOr400(TenantCreateSchema, req.body ?? {});
    const tenant = await createTenant(db, body.name);
    const { row, key } = await createApiKey(db, { tenantId: tenant.id, name: "initial" });
    req.log.info({ tenantId: tenant.id }, "tenant created");
    res.status(201).json({
      id: tenant.id,
      name: tenant.name,
      webhook_secret: tenant.webhookSecret,
      created_at: tenant.createdAt.toISOString(),
      api_key: { ...toApiKeyResource(row), key },
    });
  });

  router.get("/tenant", async (_req, res) => {
    const tenant = await getTenant(db, authOf(res).tenantId);
    if (!tenant) throw notFound("tenant", authOf(res).tenantId);
    res.json(toTenantResource(tenant));
  });

  router.post("/keys", async (req, res) => {
    const auth = authOf(res);
    const body = parseOr400(KeyCreateSchema, req.body ?? {});
    if (body.tenant_id && body.tenant_id !== auth.tenantId && !auth.admin) {
      throw new ApiError(403, "forbidden", "a tenant key can only create keys for its own tenant");
    }
    const tenantId = body.tenant_id ?? auth.tenantId;
    if (!(await getTenant(db, tenantId))) throw notFound("tenant", tenantId);
    const { row, key } = await createApiKey(db, { tenantId, name: body.name });
    req.log.info({ keyId: row.id, tenantId }, "api key created");
    res.status(201).json({ ...toApiKeyResource(row), key });
  });

  router.get("/keys", async (req, res) => {
    const auth = authOf(res);
    const tenantId = typeof req.query.tenant_id === "string" && auth.admin ? req.query.tenant_id : auth.tenantId;
    if (!IdParamSchema.safeParse(tenantId).success) throw notFound("tenant", tenantId);
    res.json({ data: (await listApiKeys(db, tenantId)).map(toApiKeyResource) });
  });

  router.post("/keys/:id/revoke", async (req, res) => {
    const auth = authOf(res);
    const id = idParam(req, "key");
    let key = await revokeApiKey(db, auth.tenantId, id);
    if (!key && auth.admin) {
      const any = await getApiKey(db, id);
      key = any ? await revokeApiKey(db, any.tenantId, id) : null;
    }
    if (!key) throw notFound("key", id);
    req.log.info({ keyId: id }, "api key revoked");
    res.json(toApiKeyResource(key));
  });

  return router;
}

export const keyOperations = [
  v1.post("/tenants", {
    operationId: "createTenant",
    summary: "Create a tenant and its first API key (admin token only)",
    tags: [TAGS.keys],
    body: { schema: TenantCreateSchema },
    ok: { status: 201, description: "the tenant, its webhook secret and its first key", schema: TenantCreatedSchema },
    errors: { 403: "only the admin token (API_TOKEN) creates tenants" },
  }),
  v1.get("/tenant", {
    operationId: "getTenant",
    summary: "The caller's tenant",
    tags: [TAGS.keys],
    ok: { status: 200, description: "the tenant", schema: TenantResourceSchema },
    errors: { 404: true },
  }),
  v1.post("/keys", {
    operationId: "createApiKey",
    summary: "Create an API key",
    description: "For the caller's tenant; the admin token may name another `tenant_id`. The key is in this answer only.",
    tags: [TAGS.keys],
    body: { schema: KeyCreateSchema, required: false },
    ok: { status: 201, description: "the key, with its secret", schema: ApiKeyCreatedSchema },
    errors: { 403: "a tenant key can only create keys for its own tenant", 404: "no such tenant" },
  }),
  v1.get("/keys", {
    operationId: "listApiKeys",
    summary: "List the tenant's API keys, newest first",
    tags: [TAGS.keys],
    params: { query: ListApiKeysQuerySchema },
    ok: { status: 200, description: "the keys (without their secrets)", schema: ApiKeyListSchema },
    errors: { 404: "no such tenant" },
  }),
  v1.post("/keys/:id/revoke", {
    operationId: "revokeApiKey",
    summary: "Revoke an API key",
    description: "Takes effect within the key cache period (a few seconds). Revoking twice keeps the first time.",
    tags: [TAGS.keys],
    params: { path: IdParams },
    ok: { status: 200, description: "the revoked key", schema: ApiKeyResourceSchema },
    errors: { 404: "no such key for this tenant" },
  }),
];
