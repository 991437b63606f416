import path from "node:path";
import { Router } from "express";
import type { oas31 } from "zod-openapi";
import { z } from "zod";
import { open, TAGS } from "./operations";

/** Swagger UI's files, served from the `swagger-ui-dist` package: the page needs no CDN (nor the internet). */
const SWAGGER_UI_DIR = path.dirname(require.resolve("swagger-ui-dist/package.json"));
const ASSETS = new Set(["swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"]);

// validatorUrl: Swagger UI would otherwise show a badge loaded from an online validator.
const INIT_JS = `window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null });\n`;

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kling-orchestrator API</title>
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// No inline script anywhere (init.js is a file); Swagger UI sets inline styles and uses data: images.
const DOCS_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/**
 * `GET /openapi.json` (the document, serialized once) and `GET /docs` (Swagger UI reading it). Public,
 * like /healthz: the document describes the API, it holds no secret.
 */
export function openApiRoutes(openApiDocument: oas31.OpenAPIObject): Router {
  const router = Router();
  const document = JSON.stringify(openApiDocument);

  router.get("/openapi.json", (_req, res) => {
    res.type("application/json").send(document);
  });
  router.get("/docs", (_req, res) => {
    res.set("Content-Security-Policy", DOCS_CSP).type("html").send(DOCS_HTML);
  });
  /** The page's own files (not API routes; not in the document). */
  router.get("/docs/:file", (req, res, next) => {
    const file = String(req.params.file);
    if (file === "init.js") {
      res.type("application/javascript").send(INIT_JS);
      return;
    }
    if (!ASSETS.has(file)) return next();
    res.sendFile(path.join(SWAGGER_UI_DIR, file), { maxAge: "1h" });
  });
  return router;
}

export const openApiOperations = [
  open.get("/openapi.json", {
    operationId: "openApiDocument",
    summary: "This document",
    tags: [TAGS.ops],
    ok: { status: 200, description: "OpenAPI 3.1", schema: z.record(z.string(), z.unknown()) },
  }),
  open.get("/docs", {
    operationId: "apiReference",
    summary: "This document as a web page (Swagger UI, served from this server)",
    tags: [TAGS.ops],
    ok: { status: 200, description: "HTML", schema: z.string(), media: "text/html" },
  }),
];
