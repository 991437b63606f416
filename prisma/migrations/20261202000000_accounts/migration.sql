
-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "account" TEXT NOT NULL DEFAULT 'default';

-- AlterTable
ALTER TABLE "chains" ADD COLUMN     "account" TEXT NOT NULL DEFAULT 'default';

-- CreateTable
CREATE TABLE "video_owners" (
    "video_id" TEXT NOT NULL,
    "account" TEXT NOT NULL,
    "job_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "video_owners_pkey" PRIMARY KEY ("video_id")
);

-- CreateIndex
CREATE INDEX "jobs_account_status_idx" ON "jobs"("account", "status");

