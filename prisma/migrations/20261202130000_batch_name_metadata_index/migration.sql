-- AlterTable
ALTER TABLE "batches" ADD COLUMN     "metadata" JSONB,
ADD COLUMN     "name" TEXT;

-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "batch_index" INTEGER;

-- CreateIndex
CREATE INDEX "batches_tenant_id_created_at_id_idx" ON "batches"("tenant_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "jobs_batch_id_batch_index_idx" ON "jobs"("batch_id", "batch_index");

