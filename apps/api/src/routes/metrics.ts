import type { Registry } from "@kex/metrics";
import { Router } from "express";
import { z } from "zod";
import { open, TAGS } from "../openapi/operations";

/** `GET /metrics`: Prometheus text format, unauthenticated like /healthz (keep it off the public internet). */
export function metricsRoutes(registry: Registry): Router {
  const router = Router();
  router.get("/metrics", async (_req, res) => {
    const body = await registry.metrics();
    res.set("Content-Type", registry.contentType).send(body);
  });
  return router;
}

export const metricsOperations = [
  open.get("/metrics", {
    operationId: "metrics",
    summary: "Prometheus metrics",
    description: "Unauthenticated like /healthz: keep it off the public internet.",
    tags: [TAGS.ops],
    ok: { status: 200, description: "Prometheus text exposition format", schema: z.string(), media: "text/plain" },
  }),
];
