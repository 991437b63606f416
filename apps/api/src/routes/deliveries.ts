import { DeliveryListSchema, DeliveryResourceSchema, toDeliveryResource, WebhookSecretSchema } from "@kex/contract";
import { type Logger } from "@kex/core";
import { ensureWebhookSecret, getBatchWithCounts, getJobForTenant, listBatchDeliveries, listJobDeliveries, redeliverDelivery, type Db } from "@kex/db";
import { Router } from "express";
import { authOf } from "../auth";
import { notFound, idParam } from "../errors";
import { IdParams, TAGS, v1 } from "../openapi/operations";

/**
 * Outbound webhooks, as the caller's tenant sees them: the delivery log of a job or a batch, a manual
 * redelivery, and the tenant's signing secret (the default tenant, which API_TOKEN acts as, has no
 * other way to learn it).
 */
export function deliveryRoutes(deps: { db: Db; logger: Logger }): Router {
  const { db } = deps;
  const router = Router();

  router.get("/extensions/:id/deliveries", async (req, res) => {
    const id = idParam(req, "extension");
    const { tenantId } = authOf(res);
    if (!(await getJobForTenant(db, tenantId, id))) throw notFound("extension", id);
    res.json({ data: (await listJobDeliveries(db, tenantId, id)).map(toDeliveryResource) });
  });

  router.get("/batches/:id/deliveries", async (req, res) => {
    const id = idParam(req, "batch");
    const { tenantId } = authOf(res);
    if (!(await getBatchWithCounts(db, id, tenantId))) throw notFound("batch", id);
    res.json({ data: (await listBatchDeliveries(db, tenantId, id)).map(toDeliveryResource) });
  });

  router.post("/deliveries/:id/redeliver", async (req, res) => {
    const id = idParam(req, "delivery");
    const delivery = await redeliverDelivery(db, authOf(res).tenantId, id);
    if (!delivery) throw notFound("delivery", id);
    req.log.info({ deliveryId: id, eventType: delivery.eventType }, "webhook redelivery requested");
    res.status(202).json(toDeliveryResource(delivery));
  });

  router.get("/webhook-secret", async (_req, res) => {
    res.json({ secret: await ensureWebhookSecret(db, authOf(res).tenantId) });
  });

  return router;
}

export const deliveryOperations = [
  v1.get("/extensions/:id/deliveries", {
    operationId: "listExtensionDeliveries",
    summary: "The webhooks sent (or being sent) about a job",
    tags: [TAGS.deliveries],
    params: { path: IdParams },
    ok: { status: 200, description: "the deliveries with their attempts", schema: DeliveryListSchema },
    errors: { 404: "no such job for this tenant" },
  }),
  v1.get("/batches/:id/deliveries", {
    operationId: "listBatchDeliveries",
    summary: "The webhooks sent (or being sent) about a batch and its jobs",
    tags: [TAGS.deliveries],
    params: { path: IdParams },
    ok: { status: 200, description: "the deliveries with their attempts", schema: DeliveryListSchema },
    errors: { 404: "no such batch for this tenant" },
  }),
  v1.post("/deliveries/:id/redeliver", {
    operationId: "redeliver",
    summary: "Send a webhook again, now",
    tags: [TAGS.deliveries],
    params: { path: IdParams },
    ok: { status: 202, description: "the delivery, due now", schema: DeliveryResourceSchema },
    errors: { 404: "no such delivery for this tenant" },
  }),
  v1.get("/webhook-secret", {
    operationId: "getWebhookSecret",
    summary: "The tenant's webhook signing secret",
    tags: [TAGS.deliveries],
    ok: { status: 200, description: "the secret (created on first use)", schema: WebhookSecretSchema },
  }),
];
