// Floors for `GET /v1/extensions/:id` on this machine, both doing the api's database work and JSON
// (packages/db getJobForTenant, toJobResource) with no auth, logging or other middleware:
//  - FLOOR_PORT: plain node:http, the least any server can do;
//  - FLOOR_EXPRESS_PORT: the same handler as one Express 5 route, the least our framework can do.
// Started by bench/run.ts as its own process; never part of the product.
import http from "node:http";
import { toJobResource } from "@kex/contract";
import { createDb, DEFAULT_TENANT_ID, getJobForTenant, JOB_SELECT, type Job } from "@kex/db";
import express from "express";
import { Pool } from "pg";

const port = Number(process.env.FLOOR_PORT);
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_MAX ?? 10) });
const text = `SELECT ${JOB_SELECT} FROM jobs WHERE id = $1 AND tenant_id = $2`;
const PREFIX = "/v1/extensions/";

const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
    return;
  }
  const id = req.url?.startsWith(PREFIX) ? req.url.slice(PREFIX.length) : "";
  pool
    .query<Job>({ name: "floor_get", text, values: [id, DEFAULT_TENANT_ID] })
    .then(({ rows }) => {
      const job = rows[0];
      res.writeHead(job ? 200 : 404, { "content-type": "application/json; charset=utf-8" }).end(JSON.stringify(job ? toJobResource(job) : { error: "not_found" }));
    })
    .catch((err: Error) => res.writeHead(500).end(err.message));
});
server.listen(port, "127.0.0.1");

const db = createDb({ url: process.env.DATABASE_URL!, poolMax: Number(process.env.DATABASE_POOL_MAX ?? 10) });
const app = express();
app.get("/healthz", (_req, res) => void res.json({ status: "ok" }));
app.get("/v1/extensions/:id", async (req, res) => {
  const job = await getJobForTenant(db, DEFAULT_TENANT_ID, String(req.params.id));
  if (!job) res.status(404).json({ error: "not_found" });
  else res.json(toJobResource(job));
});
const expressServer = app.listen(Number(process.env.FLOOR_EXPRESS_PORT), "127.0.0.1");

process.on("SIGTERM", () => {
  expressServer.close();
  server.close(() => void Promise.all([pool.end(), db.close()]).then(() => process.exit(0)));
});
