
-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "final_balance_list_price" TEXT,
ADD COLUMN     "final_balance_quota" TEXT,
ADD COLUMN     "final_unit_deduction" TEXT;

-- CreateTable
CREATE TABLE "kling_webhook_messages" (
    "webhook_id" TEXT NOT NULL,
    "job_id" UUID NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "kling_webhook_messages_pkey" PRIMARY KEY ("webhook_id")
);

-- CreateIndex
CREATE INDEX "kling_webhook_messages_job_id_idx" ON "kling_webhook_messages"("job_id");

-- CreateIndex
CREATE INDEX "kling_webhook_messages_received_at_idx" ON "kling_webhook_messages"("received_at");

-- AddForeignKey
ALTER TABLE "kling_webhook_messages" ADD CONSTRAINT "kling_webhook_messages_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

