-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "chain_id" UUID,
ADD COLUMN     "step_index" INTEGER;

-- CreateTable
CREATE TABLE "chains" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "video_id" TEXT NOT NULL,
    "steps" JSONB NOT NULL,
    "callback_url" TEXT,
    "status" TEXT NOT NULL DEFAULT 'running',
    "current_step" INTEGER NOT NULL DEFAULT 0,
    "error_code" TEXT,
    "error_message" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "chains_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "chains_tenant_id_created_at_idx" ON "chains"("tenant_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "jobs_chain_id_step_index_idx" ON "jobs"("chain_id", "step_index");

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_chain_id_fkey" FOREIGN KEY ("chain_id") REFERENCES "chains"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "chains" ADD CONSTRAINT "chains_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

