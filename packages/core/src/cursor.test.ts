import { decodeCursor, encodeCursor } from "./cursor";

const ID = "0b0c8f5e-6a3d-4c2b-9f1e-2d3c4b5a6f70";
const raw = (text: string) => Buffer.from(text).toString("base64url");

describe("cursor", () => {
  it.each([
    [new Date("2025-03-04T05:06:07.089Z"), ID],
    [new Date("1970-01-01T00:00:00.000Z"), "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"],
    [new Date("9999-12-31T23:59:59.999Z"), "00000000-0000-0000-0000-000000000000"],
  ])("round-trips %s / %s", (createdAt, id) => {
    const encoded = encodeCursor({ createdAt, id });
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    const decoded = decodeCursor(encoded);
    expect(decoded).toEqual({ createdAt, id });
    expect(decoded?.createdAt.getTime()).toBe(createdAt.getTime());
  });

  it("is opaque: the encoded form does not show the date or id in clear", () => {
    const encoded = encodeCursor({ createdAt: new Date("2025-03-04T05:06:07.089Z"), id: ID });
    expect(encoded).not.toContain("2025");
    expect(encoded).not.toContain(ID);
  });

  it.each([
    ["empty", ""],
    ["garbage", "!!!not a cursor!!!"],
    ["base64 of garbage", raw("hello world")],
    ["no separator", raw(`2025-03-04T05:06:07.089Z${ID}`)],
    ["a comma for a separator", raw(`2025-03-04T05:06:07.089Z,${ID}`)],
    ["two separators", raw(`2025-03-04T05:06:07.089Z|${ID}|x`)],
    ["a trailing separator", raw(`2025-03-04T05:06:07.089Z|${ID}|`)],
    ["a missing date", raw(`|${ID}`)],
    ["a missing id", raw("2025-03-04T05:06:07.089Z|")],
    ["a bad date", raw(`not-a-date|${ID}`)],
    ["an impossible date", raw(`2025-13-45T99:00:00.000Z|${ID}`)],
    ["a date Date would roll over", raw(`2025-02-30T00:00:00.000Z|${ID}`)],
    ["a date Postgres refuses (year 0)", raw(`0000-01-01T00:00:00.000Z|${ID}`)],
    ["a date Postgres refuses (6-digit year)", raw(`+200000-01-01T00:00:00.000Z|${ID}`)],
    ["a non-uuid id", raw("2025-03-04T05:06:07.089Z|42")],
    ["a 36-character id of dashes", raw(`2025-03-04T05:06:07.089Z|${"-".repeat(36)}`)],
    ["a 36-character hex id with misplaced dashes", raw("2025-03-04T05:06:07.089Z|0b0c8f5e6a3d-4c2b-9f1e-2d3c4b5a6f-70")],
    ["an id with a non-hex character", raw(`2025-03-04T05:06:07.089Z|${ID.replace(/.$/, "g")}`)],
    ["an id with SQL in it", raw("2025-03-04T05:06:07.089Z|' OR 1=1 --")],
    ["a uuid without dashes", raw(`2025-03-04T05:06:07.089Z|${ID.replace(/-/g, "")}`)],
  ])("%s → null", (_name, value) => {
    expect(decodeCursor(value)).toBeNull();
  });
});
