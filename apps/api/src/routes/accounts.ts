import { AccountListSchema, type AccountResource } from "@kex/contract";
import { toPublicAccount, type AccountRegistry } from "@kex/core";
import { countInFlightByAccount, type Db } from "@kex/db";
import type { AccountPauseStore } from "@kex/queue";
import { Router } from "express";
import { authOf } from "../auth";
import { ApiError } from "../errors";
import { TAGS, v1 } from "../openapi/operations";

/** `GET /v1/accounts` (admin): every configured Kling account with its state, never a credential. */
export function accountRoutes(deps: { db: Db; accounts: AccountRegistry; pauses: AccountPauseStore }): Router {
  const router = Router();
  router.get("/accounts", async (_req, res) => {
    if (!authOf(res).admin) throw new ApiError(403, "forbidden", "only the admin token (API_TOKEN) can see the accounts");
    const inFlight = await countInFlightByAccount(deps.db);
    const data: AccountResource[] = await Promise.all(
      deps.accounts.all().map(async (account) => {
        // Built field by field from the public view: nothing secret can slip into the answer.
        const pause = await deps.pauses.current(account.name);
        return {
          ...toPublicAccount(account),
          default: account.name === deps.accounts.defaultName,
          in_flight: inFlight.get(account.name) ?? 0,
          paused_until: pause?.until ?? null,
          paused_reason: pause ? `${pause.code}: ${pause.message}` : null,
        };
      }),
    );
    res.json({ data });
  });
  return router;
}

export const accountOperations = [
  v1.get("/accounts", {
    operationId: "listAccounts",
    summary: "The Kling accounts and their state (admin)",
    description: "Settings and state of every configured account: in flight now, paused until and why. Credentials and callback secrets are never shown.",
    tags: [TAGS.ops],
    ok: { status: 200, description: "every account", schema: AccountListSchema },
    errors: { 403: "not the admin token" },
  }),
];
