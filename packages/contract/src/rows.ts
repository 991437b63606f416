import type { JobEventSource, JobStatus } from "./statuses";

/**
 * The stored rows the presenters read, as structural types: the fields a response is built from and no
 * more. The database's generated row types are assignable to them, so this package needs no database.
 */

export interface JobRow {
  id: string;
  batchId: string | null;
  account: string;
  /** Position in the batch's `items` (0-based); null outside a batch and for jobs stored before it was recorded. */
  batchIndex: number | null;
  status: JobStatus;
  videoId: string;
  prompt: string;
  negativePrompt: string | null;
  cfgScale: number | null;
  callbackUrl: string | null;
  metadata: unknown;
  upstreamTaskId: string | null;
  upstreamStatus: string | null;
  attempts: number;
  resultVideoId: string | null;
  resultUrl: string | null;
  resultDuration: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: Date;
  updatedAt: Date;
  submittedAt: Date | null;
  finishedAt: Date | null;
  finalUnitDeduction: string | null;
  finalBalanceQuota: string | null;
  finalBalanceListPrice: string | null;
}

export interface JobEventRow {
  id: bigint;
  at: Date;
  source: JobEventSource;
  type: string;
  fromStatus: JobStatus | null;
  toStatus: JobStatus | null;
  detail: string | null;
  payload: unknown;
}

export interface BatchRow {
  id: string;
  total: number;
  callbackUrl: string | null;
  name: string | null;
  metadata: unknown;
  createdAt: Date;
}

export interface TenantRow {
  id: string;
  name: string;
  createdAt: Date;
}

export interface ApiKeyRow {
  id: string;
  name: string | null;
  prefix: string;
  tenantId: string;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

export interface DeliveryAttemptRow {
  attempt: number;
  at: Date;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

/** A delivery with its attempts, oldest first. */
export interface DeliveryRow {
  id: string;
  eventType: string;
  jobId: string | null;
  batchId: string | null;
  url: string;
  /** A `DeliveryStatus`: the column is text. */
  status: string;
  attempts: number;
  nextAttemptAt: Date;
  deliveredAt: Date | null;
  lastError: string | null;
  createdAt: Date;
  attemptLog: DeliveryAttemptRow[];
}

export interface ChainRow {
  id: string;
  account: string;
  /** A `ChainStatus`: the column is text. */
  status: string;
  videoId: string;
  callbackUrl: string | null;
  currentStep: number;
  /** The `steps` of the `ChainCreate` body, as stored (JSON). */
  steps: unknown;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A job that runs a chain's step. */
export interface ChainJobRow extends JobRow {
  stepIndex: number | null;
}
