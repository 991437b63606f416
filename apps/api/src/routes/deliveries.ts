import { type Logger } from "@kex/core";
import {
  ensureWebhookSecret,
  getBatchWithCounts,
  getJobForTenant,
  listBatchDeliveries,
  listJobDeliveries,
  redeliverDelivery,
  toDeliveryResource,
  type Db,
} from "@kex/db";
import { Router } from "express";
import { authOf } from "../auth";
import { notFound, idParam } from "../errors";

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
