import type { Registry } from "@kex/metrics";
import { Router } from "express";

/** `GET /metrics`: Prometheus text format, unauthenticated like /healthz (keep it off the public internet). */
export function metricsRoutes(registry: Registry): Router {
  const router = Router();
  router.get("/metrics", async (_req, res) => {
    const body = await registry.metrics();
    res.set("Content-Type", registry.contentType).send(body);
  });
  return router;
}
