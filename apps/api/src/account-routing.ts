import { routeToAccount, type AccountRegistry, type AccountRoutingProblem } from "@kex/core";
import { findVideoOwners, type Queryable } from "@kex/db";
import { ApiError } from "./errors";

/** One job to route: the account its request names (and where), and the video it extends (and where). */
export interface RoutingRequest {
  named?: { account: string; field: string } | undefined;
  videoId: string;
  videoField: string;
}

/** At most this many problems are listed in an error (like validation errors). */
const MAX_DETAILS = 100;

function detailOf(problem: AccountRoutingProblem, request: RoutingRequest): { field: string; rule: string; message: string } {
  switch (problem.kind) {
    case "conflict":
      return {
        field: request.named?.field ?? "account",
        rule: "account_conflict",
        message: `video ${request.videoId} was produced by account "${problem.owner}", not "${problem.named}": a video can only be extended on the account that made it`,
      };
    case "unknown":
    case "disabled": {
      const what = problem.kind === "unknown" ? "is not configured" : "is disabled";
      if (problem.from === "owner") {
        return {
          field: request.videoField,
          rule: problem.kind === "unknown" ? "unknown_account" : "account_disabled",
          message: `video ${request.videoId} was produced by account "${problem.account}", which ${what}`,
        };
      }
      return {
        field: request.named?.field ?? "account",
        rule: problem.kind === "unknown" ? "unknown_account" : "account_disabled",
        message: `account "${problem.account}" ${what}`,
      };
    }
  }
}

/**
 * The account each job runs on (the rule is `routeToAccount`: named, else the source video's owner,
 * else the default), in the order given. Throws a 400 naming every unknown or disabled account, or
 * else a 409 `account_conflict` naming both accounts of every conflict.
 */
export async function routeJobs(q: Queryable, accounts: AccountRegistry, requests: readonly RoutingRequest[]): Promise<string[]> {
  const owners = await findVideoOwners(
    q,
    requests.map((r) => r.videoId),
  );
  const routed: string[] = [];
  const refused: ReturnType<typeof detailOf>[] = [];
  const conflicts: ReturnType<typeof detailOf>[] = [];
  for (const request of requests) {
    const route = routeToAccount(accounts, { named: request.named?.account, owner: owners.get(request.videoId) });
    if (route.ok) routed.push(route.account);
    else (route.problem.kind === "conflict" ? conflicts : refused).push(detailOf(route.problem, request));
  }
  const fail = (status: 400 | 409, code: "validation_failed" | "account_conflict", details: ReturnType<typeof detailOf>[]) => {
    const first = details[0]!;
    const more = details.length > 1 ? ` (and ${details.length - 1} more)` : "";
    return new ApiError(status, code, `${first.field}: ${first.message}${more}`, details.slice(0, MAX_DETAILS));
  };
  if (refused.length > 0) throw fail(400, "validation_failed", refused);
  if (conflicts.length > 0) throw fail(409, "account_conflict", conflicts);
  return routed;
}
