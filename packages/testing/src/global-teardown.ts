import { stopTestPostgres } from "./global-setup";

/** Stops the embedded Postgres that global setup started when no Postgres answered (if it did). */
export default async function globalTeardown(): Promise<void> {
  await stopTestPostgres();
}
