// The fault suite's settings: one place that reads its environment (the knobs are listed in index.ts).
import { randomBytes } from "node:crypto";
import { QUEUE_BACKENDS, type QueueBackendKind } from "@kex/queue";

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return n;
}

function jsonEnv(name: string): Record<string, string> {
  const raw = process.env[name];
  if (!raw) return {};
  const parsed = JSON.parse(raw) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
}

export const BASE_DATABASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/kling_orchestrator";
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
/** Where the apps keep their queue: BullMQ on Redis (default) or BullMQ's Postgres backend (docs/queue-backends.md). */
export const QUEUE_BACKEND: QueueBackendKind = (() => {
  const raw = process.env.FAULTS_QUEUE_BACKEND || "redis";
  if (!(QUEUE_BACKENDS as readonly string[]).includes(raw)) throw new Error(`FAULTS_QUEUE_BACKEND must be one of ${QUEUE_BACKENDS.join(", ")}, got ${raw}`);
  return raw as QueueBackendKind;
})();
/**
 * With the Postgres backend the apps get this REDIS_URL: a port nothing listens on, so a stray Redis
 * connection shows up as errors in their logs instead of quietly working.
 */
export const NO_REDIS_URL = "redis://127.0.0.1:1";
export const TEMPLATE_DATABASE_URL = (() => {
  const url = new URL(BASE_DATABASE_URL);
  url.pathname = "/kling_faults_template";
  return url.toString();
})();
// 1200 rather than 2000: the suite is bound by the cap (a slot is held until the final callback is
// processed, 1.5-2 s per job here), and eight scenarios of 1500 already took ~10 min on this 2-core machine.
export const JOBS = intEnv("FAULTS_JOBS", 1200);
export const CAP = intEnv("FAULTS_CAP", 50);
export const TIMEOUT_MS = intEnv("FAULTS_TIMEOUT_MS", 120_000);
/** No job finished for this long while some are not final: the run is stuck, stop waiting. */
export const STALL_MS = intEnv("FAULTS_STALL_MS", 40_000);
export const SEED = intEnv("FAULTS_SEED", randomBytes(3).readUIntBE(0, 3));
export const ONLY = (process.env.FAULTS_ONLY ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
export const ALLOW_FLUSHALL = process.env.FAULTS_ALLOW_FLUSHALL === "1" || process.env.CI === "true";
export const KEEP_DATABASES = process.env.FAULTS_KEEP_DB === "1";
/** How long scenario 6 keeps the account blocked (1102). */
export const PAUSE_FOR_MS = intEnv("FAULTS_PAUSE_MS", 8000);
/** Diagnostics: JSON objects merged into every scenario's worker / sandbox environment. */
export const EXTRA_WORKER_ENV = jsonEnv("FAULTS_WORKER_ENV");
export const EXTRA_SANDBOX_ENV = jsonEnv("FAULTS_SANDBOX_ENV");
export const RUN_ID = randomBytes(3).toString("hex");
export const API_TOKEN = `faults_${randomBytes(18).toString("base64url")}`;
export const CALLBACK_SECRET = randomBytes(32).toString("base64url");
export const SANDBOX_KEY = "sandbox-key";
export const CHUNK = 250; // jobs per POST /v1/batches
export const FINAL = new Set(["succeeded", "failed", "canceled"]);
export const IN_FLIGHT = new Set(["submitting", "submitted", "processing"]);

export const say = (line = "") => process.stdout.write(`${line}\n`);
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
