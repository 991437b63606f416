-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "polled_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "jobs_upstream_status_status_idx" ON "jobs"("upstream_status", "status");

