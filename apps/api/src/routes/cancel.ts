import { BatchCanceledSchema, JobResourceSchema, toBatchResource, toJobResource } from "@kex/contract";
import { getBatchWithCounts, getJobForTenant, type Db } from "@kex/db";
import type { Engine } from "@kex/engine";
import { Router } from "express";
import { authOf } from "../auth";
import { ApiError, notFound, idParam } from "../errors";
import { IdParams, TAGS, v1 } from "../openapi/operations";

/** `POST /v1/extensions/:id/cancel` and `POST /v1/batches/:id/cancel`: cancel what has not finished. */
export function cancelRoutes(deps: { db: Db; engine: Engine }): Router {
  const router = Router();

  router.post("/extensions/:id/cancel", async (req, res) => {
    const id = idParam(req, "extension");
    if (!(await getJobForTenant(deps.db, authOf(res).tenantId, id))) throw notFound("extension", id);
    const result = await deps.engine.cancelJob(id);
    if (result.outcome === "not_found") throw notFound("extension", id);
    if (result.outcome === "unchanged") {
      throw new ApiError(409, "already_finished", `extension ${id} already finished (${result.job.status}); nothing to cancel`, {
        status: result.job.status,
      });
    }
    req.log.info({ jobId: id, from: result.from }, "job canceled");
    res.json(toJobResource(result.job));
  });

  router.post("/batches/:id/cancel", async (req, res) => {
    const id = idParam(req, "batch");
    const before = await getBatchWithCounts(deps.db, id, authOf(res).tenantId);
    if (!before) throw notFound("batch", id);
    const { canceled } = await deps.engine.cancelBatch(id);
    const after = await getBatchWithCounts(deps.db, id);
    if (canceled.length === 0) {
      throw new ApiError(409, "already_finished", `batch ${id} already finished; nothing to cancel`, { counts: after!.counts });
    }
    req.log.info({ batchId: id, canceled: canceled.length }, "batch canceled");
    res.json({ ...toBatchResource(after!.batch, after!.counts), canceled: canceled.length });
  });

  return router;
}

export const cancelOperations = [
  v1.post("/extensions/:id/cancel", {
    operationId: "cancelExtension",
    summary: "Cancel a job that has not finished",
    tags: [TAGS.extensions],
    params: { path: IdParams },
    ok: { status: 200, description: "the canceled job", schema: JobResourceSchema },
    errors: { 404: "no such job for this tenant", 409: "or `already_finished`: the job is final (its status in `details.status`)" },
  }),
  v1.post("/batches/:id/cancel", {
    operationId: "cancelBatch",
    summary: "Cancel every job of a batch that has not finished",
    tags: [TAGS.batches],
    params: { path: IdParams },
    ok: { status: 200, description: "the batch after canceling", schema: BatchCanceledSchema },
    errors: { 404: "no such batch for this tenant", 409: "or `already_finished`: every job is final (`details.counts`)" },
  }),
];
