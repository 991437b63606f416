import { createTestDatabase, type TestDatabase } from "@kex/testing";
import { createDb, type Db } from "../src";

/**
 * A migrated database of this test file's own, opened before its tests and closed and dropped after
 * them; `use` receives the handle once it is open.
 */
export function useTestDb(use: (db: Db) => void): void {
  let database: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDb({ url: database.url });
    use(db);
  });
  afterAll(async () => {
    await db.close();
    await database.drop();
  });
}
