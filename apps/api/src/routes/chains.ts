import { ChainCreateSchema, ChainResourceSchema, CHAIN_MAX_STEPS, VIDEO_TOO_LONG_CODE } from "@kex/contract";
import type { Logger } from "@kex/core";
import { createChain, getChainView, type Db } from "@kex/db";
import type { Engine } from "@kex/engine";
import type { AccountRegistry } from "@kex/core";
import { Router } from "express";
import { routeJobs } from "../account-routing";
import { authOf } from "../auth";
import { requireJsonBody } from "../body-parsing";
import { enqueueFairly, type EnqueueFn } from "../enqueue";
import { ApiError, notFound, parseOr400, idParam } from "../errors";
import { IdParams, TAGS, v1 } from "../openapi/operations";

/**
 * Extension chains: step n extends step n-1's result video. A chain longer than upstream's 3 minutes
 * is refused up front when it must be (steps × 4.5 s), and otherwise stopped at the step that would
 * pass it; a failed step stops the chain and `retry` resumes from it.
 */
export function chainRoutes(deps: { db: Db; engine: Engine; enqueue: EnqueueFn; logger: Logger; accounts: AccountRegistry; checkCallbackUrls?: (urls: Array<{ field: string; url: string }>) => Promise<void> }): Router {
  const { db } = deps;
  const router = Router();

  router.post("/chains", requireJsonBody, async (req, res) => {
    const input = parseOr400(ChainCreateSchema, req.body);
    await deps.checkCallbackUrls?.(input.callback_url ? [{ field: "callback_url", url: input.callback_url }] : []);
    const { tenantId } = authOf(res);
    // The chain is pinned to its first step's account: every later step extends a video it produced.
    const [account] = await routeJobs(db, deps.accounts, [
      { named: input.account === undefined ? undefined : { account: input.account, field: "account" }, videoId: input.video_id, videoField: "video_id" },
    ]);
    const { chain, jobId } = await createChain(db, { tenantId, input, account: account! });
    await enqueueFairly(deps, tenantId, [jobId], req.log);
    req.log.info({ chainId: chain.id, jobId, steps: input.steps.length }, "chain created");
    res.status(202).json(await getChainView(db, tenantId, chain.id));
  });

  router.get("/chains/:id", async (req, res) => {
    const id = idParam(req, "chain");
    const view = await getChainView(db, authOf(res).tenantId, id);
    if (!view) throw notFound("chain", id);
    res.json(view);
  });

  router.post("/chains/:id/retry", async (req, res) => {
    const id = idParam(req, "chain");
    const { tenantId } = authOf(res);
    const result = await deps.engine.retryChain({ tenantId, chainId: id });
    if (result.outcome === "not_found") throw notFound("chain", id);
    if (result.outcome === "not_failed") throw new ApiError(409, "chain_not_failed", `chain ${id} is ${result.status}; only a failed chain can be retried`);
    if (result.outcome === "too_long") throw new ApiError(409, VIDEO_TOO_LONG_CODE, result.message);
    await enqueueFairly(deps, tenantId, [result.jobId], req.log);
    req.log.info({ chainId: id, jobId: result.jobId }, "chain resumed");
    res.status(202).json(await getChainView(db, tenantId, id));
  });

  return router;
}

export const chainOperations = [
  v1.post("/chains", {
    operationId: "createChain",
    summary: "Extend a video several times in a row",
    description: `Step n extends step n-1's result video; at most ${CHAIN_MAX_STEPS} steps (upstream refuses videos over 3 minutes). A failed step stops the chain; \`retry\` resumes it from that step.`,
    tags: [TAGS.chains],
    body: { schema: ChainCreateSchema },
    ok: { status: 202, description: "the chain, its first step queued", schema: ChainResourceSchema },
    errors: { 400: "or an unknown or disabled `account` (`rule: unknown_account`, `account_disabled`)", 409: "or `account_conflict`: `account` is not the account that produced `video_id`" },
  }),
  v1.get("/chains/:id", {
    operationId: "getChain",
    summary: "A chain with each step's latest job",
    tags: [TAGS.chains],
    params: { path: IdParams },
    ok: { status: 200, description: "the chain", schema: ChainResourceSchema },
    errors: { 404: "no such chain for this tenant" },
  }),
  v1.post("/chains/:id/retry", {
    operationId: "retryChain",
    summary: "Resume a failed chain from the step that failed",
    tags: [TAGS.chains],
    params: { path: IdParams },
    ok: { status: 202, description: "the chain, the failed step queued again", schema: ChainResourceSchema },
    errors: {
      404: "no such chain for this tenant",
      409: "or `chain_not_failed` (only a failed chain resumes), `video_too_long` (the next step would pass 3 minutes)",
    },
  }),
];
