import { isDatabaseUnavailable } from "./errors";

describe("isDatabaseUnavailable: what becomes a 503 instead of a 500", () => {
  it.each([
    ["connection refused", Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" })],
    ["pool exhausted (transaction could not start)", Object.assign(new Error("Transaction API error: Unable to start a transaction in the given time."), { code: "P2028" })],
    ["pg pool connect timeout", new Error("timeout exceeded when trying to connect")],
    ["server restarting", new Error("the database system is starting up")],
    ["admin shutdown", new Error("terminating connection due to administrator command")],
    ["too many connections", new Error("sorry, too many clients already")],
  ])("%s", (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  it.each([
    ["a bug", new TypeError("cannot read properties of undefined")],
    ["a constraint violation", Object.assign(new Error("Unique constraint failed"), { code: "P2002" })],
  ])("not %s", (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(false);
  });
});
