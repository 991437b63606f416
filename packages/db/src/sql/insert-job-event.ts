import type { JobStatus } from "@kex/core";
import type { EventSource } from "../generated/client";
import { rows, type Queryable } from "../queryable";
import { storableJson, storableText } from "../storable";

export interface JobEventRow {
  jobId: string;
  source: EventSource;
  type: string;
  from?: JobStatus | null;
  to?: JobStatus | null;
  /** Stored through `storableText` (it often quotes upstream's words). */
  detail?: string | null;
  /** Stored as JSON through `storableJson` (upstream's text kept, not refused); undefined is SQL NULL. */
  payload?: unknown;
  at?: Date;
}

/** The event's values in `job_events` column order (job_id, source, type, from_status, to_status, detail, payload, at). */
export function jobEventValues(e: JobEventRow): unknown[] {
  return [
    e.jobId,
    e.source,
    e.type,
    e.from ?? null,
    e.to ?? null,
    e.detail == null ? null : storableText(e.detail),
    e.payload === undefined ? null : JSON.stringify(storableJson(e.payload)),
    e.at ?? new Date(),
  ];
}

const INSERT_EVENT = `INSERT INTO job_events (job_id, source, type, from_status, to_status, detail, payload, at)
  VALUES ($1, $2::event_source, $3, $4::job_status, $5::job_status, $6, $7::jsonb, $8)`;

/** Appends one entry to a job's event log. */
export async function insertJobEvent(q: Queryable, e: JobEventRow): Promise<void> {
  await rows(q, INSERT_EVENT, jobEventValues(e));
}
