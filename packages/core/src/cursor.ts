/** Opaque keyset cursor for "newest first" lists: the (created_at, id) of the last row returned. */
export interface ListCursor {
  createdAt: Date;
  id: string;
}

// Both parts go straight into a Postgres query (timestamptz, uuid): anything Postgres would refuse must be
// refused here, or a forged cursor becomes a 500. Hence the exact uuid shape (not just 36 hex-or-dash
// characters) and the exact `toISOString` form with a year Postgres accepts (not year 0 or 5+ digits).
const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_UTC = /^(\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function encodeCursor(cursor: ListCursor): string {
  return Buffer.from(`${cursor.createdAt.toISOString()}|${cursor.id}`).toString("base64url");
}

/** Null when the cursor was not made by `encodeCursor`. */
export function decodeCursor(value: string): ListCursor | null {
  const [at, id, ...rest] = Buffer.from(value, "base64url").toString("utf8").split("|");
  if (!at || !id || rest.length > 0) return null;
  const year = ISO_UTC.exec(at)?.[1];
  if (year === undefined || Number(year) < 1) return null;
  const createdAt = new Date(at);
  // Rejects impossible dates that `Date` would roll over (2024-02-30 → 2024-03-01).
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== at) return null;
  if (!UUID_SHAPE.test(id)) return null;
  return { createdAt, id };
}
