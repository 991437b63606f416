-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "job_status" AS ENUM ('queued', 'submitting', 'submitted', 'processing', 'succeeded', 'failed', 'canceled');

-- CreateEnum
CREATE TYPE "event_source" AS ENUM ('api', 'worker', 'webhook', 'reconciler', 'sweeper');

-- CreateTable
CREATE TABLE "batches" (
    "id" UUID NOT NULL,
    "total" INTEGER NOT NULL,
    "callback_url" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "batches_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "jobs" (
    "id" UUID NOT NULL,
    "batch_id" UUID,
    "status" "job_status" NOT NULL DEFAULT 'queued',
    "video_id" TEXT NOT NULL,
    "prompt" TEXT NOT NULL,
    "negative_prompt" TEXT,
    "cfg_scale" DOUBLE PRECISION,
    "callback_url" TEXT,
    "metadata" JSONB,
    "idempotency_key" TEXT,
    "external_task_id" TEXT,
    "upstream_task_id" TEXT,
    "upstream_status" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "result_video_id" TEXT,
    "result_url" TEXT,
    "result_duration" DOUBLE PRECISION,
    "error_code" TEXT,
    "error_message" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "submitted_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "jobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job_events" (
    "id" BIGSERIAL NOT NULL,
    "job_id" UUID NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "source" "event_source" NOT NULL,
    "type" TEXT NOT NULL,
    "from_status" "job_status",
    "to_status" "job_status",
    "detail" TEXT,
    "payload" JSONB,

    CONSTRAINT "job_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "jobs_idempotency_key_key" ON "jobs"("idempotency_key");

-- CreateIndex
CREATE UNIQUE INDEX "jobs_external_task_id_key" ON "jobs"("external_task_id");

-- CreateIndex
CREATE UNIQUE INDEX "jobs_upstream_task_id_key" ON "jobs"("upstream_task_id");

-- CreateIndex
CREATE INDEX "jobs_created_at_id_idx" ON "jobs"("created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "jobs_status_created_at_id_idx" ON "jobs"("status", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "jobs_batch_id_created_at_id_idx" ON "jobs"("batch_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "jobs_batch_id_status_idx" ON "jobs"("batch_id", "status");

-- CreateIndex
CREATE INDEX "jobs_status_updated_at_idx" ON "jobs"("status", "updated_at");

-- CreateIndex
CREATE INDEX "job_events_job_id_id_idx" ON "job_events"("job_id", "id");

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_batch_id_fkey" FOREIGN KEY ("batch_id") REFERENCES "batches"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "job_events" ADD CONSTRAINT "job_events_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

