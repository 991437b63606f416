// Prisma CLI config (generate, migrate deploy). Prisma 6.19 with the JS engine and the pg adapter:
// the native schema engine cannot be downloaded offline (docs/architecture.md#prisma-without-a-network).
import path from "node:path";
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

// The schema's `env("DATABASE_URL")` must resolve even for `generate`, or the CLI falls back to
// downloading the native query engine (which fails offline).
const databaseUrl = (process.env.DATABASE_URL ??= "postgresql://postgres@127.0.0.1:5432/kling_orchestrator");

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: path.join(__dirname, "schema.prisma"),
  migrations: { path: path.join(__dirname, "migrations") },
  adapter: async () => new PrismaPg({ connectionString: databaseUrl }),
});
