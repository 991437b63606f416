import { BatchCreateSchema, ChainCreateSchema, ExtensionCreateSchema, KeyCreateSchema, TenantCreateSchema } from "@kex/contract";
import { createDocument, type oas31, type ZodOpenApiPathsObject } from "zod-openapi";
import { accountOperations } from "../routes/accounts";
import { cancelOperations } from "../routes/cancel";
import { chainOperations } from "../routes/chains";
import { deliveryOperations } from "../routes/deliveries";
import { extensionOperations } from "../routes/extensions";
import { healthOperations } from "../routes/health";
import { keyOperations } from "../routes/keys";
import { metricsOperations } from "../routes/metrics";
import { webhookOperations } from "../routes/webhooks";
import { TAGS, type ApiOperation } from "./operations";
import { openApiOperations } from "./routes";

/**
 * The OpenAPI 3.1 document of this API, assembled from the operations each route module declares beside
 * its handlers; their schemas are the ones the routes parse requests with and the response schemas the
 * resource types are inferred from (packages/contract).
 */

const OPERATIONS: readonly ApiOperation[] = [
  ...extensionOperations,
  ...cancelOperations,
  ...chainOperations,
  ...deliveryOperations,
  ...keyOperations,
  ...webhookOperations,
  ...accountOperations,
  ...healthOperations,
  ...metricsOperations,
  ...openApiOperations,
];

function pathsOf(operations: readonly ApiOperation[]): ZodOpenApiPathsObject {
  const paths: ZodOpenApiPathsObject = {};
  for (const { method, path, operation } of operations) {
    const item = (paths[path] ??= {});
    if (item[method]) throw new Error(`${method.toUpperCase()} ${path} is declared twice`);
    item[method] = operation;
  }
  return paths;
}

const DESCRIPTION = `Bulk AI video extension through the Kling API: each job is submitted upstream exactly once, within the
account's parallel-task limit, and every state change is recorded.

All bodies are JSON, snake_case. Every \`/v1\` route needs \`Authorization: Bearer <api key>\`. Every error answers
\`{"error": {"code", "message", "details?"}}\` with a 4xx or 5xx status; bad input never yields a 5xx. A 400
\`validation_failed\` names each bad field and the rule it breaks. Every string of a request is text: one holding a
NUL character or a lone UTF-16 surrogate (a \`\\ud800\` escape without its pair) is refused, anywhere, even inside
\`metadata\` (\`rule: no_nul\`, \`lone_surrogate\`).

Job states: \`queued → submitting → submitted → processing → succeeded | failed | canceled\`.`;

/** Builds the document (pure: the same schemas give the same document). */
export function createOpenApiDocument(): oas31.OpenAPIObject {
  return createDocument({
    openapi: "3.1.0",
    info: { title: "kling-orchestrator API", version: "1.0.0", description: DESCRIPTION },
    tags: Object.values(TAGS).map((name) => ({ name })),
    paths: pathsOf(OPERATIONS),
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "`API_TOKEN` (admin) or a tenant API key `kex_<prefix>_<secret>`" },
      },
      // Names of the request bodies. Response schemas name themselves with `.meta({ id })`: zod-openapi
      // renders a schema listed here for requests and for responses, which suits request bodies only.
      schemas: {
        ExtensionCreate: ExtensionCreateSchema,
        BatchCreate: BatchCreateSchema,
        ChainCreate: ChainCreateSchema,
        TenantCreate: TenantCreateSchema,
        ApiKeyCreate: KeyCreateSchema,
      },
    },
  });
}
