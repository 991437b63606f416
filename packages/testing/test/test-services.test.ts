import { Client } from "pg";
import { createTestDatabase, postgresAnswers, redisAnswers, TEST_PG_ADMIN_URL, TEST_QUEUE_BACKEND, TEST_REDIS_URL } from "../src";

// What jest's global setup chose reaches the test workers: the Postgres they are told about answers (an
// embedded one when none answered at the configured URL), and they are told to queue on Postgres when
// Redis does not answer. Run with TEST_PG_ADMIN_URL / TEST_REDIS_URL at closed ports to see the
// embedded path.
describe("the test services global setup chose", () => {
  it("has a Postgres answering at TEST_PG_ADMIN_URL, with the migrated template to copy test databases from", async () => {
    expect(await postgresAnswers(TEST_PG_ADMIN_URL)).toBe(true);
    const database = await createTestDatabase();
    const client = new Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>("SELECT count(*) AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL");
      expect(Number(rows[0]!.n)).toBeGreaterThan(0);
    } finally {
      await client.end();
      await database.drop();
    }
  });

  it("queues on Redis only when Redis answers", async () => {
    if (TEST_QUEUE_BACKEND === "redis") expect(await redisAnswers(TEST_REDIS_URL)).toBe(true);
    else expect(TEST_QUEUE_BACKEND).toBe("postgres");
  });
});
