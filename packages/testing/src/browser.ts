import { existsSync } from "node:fs";

/** Debian's Chromium (`apt-get install -y chromium`); playwright-core drives it, it never downloads one. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Flags for headless Chromium on a machine with a closed network (no background requests, no sandbox as root). */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const required = () => process.env.CI === "true" || process.env.REQUIRE_BROWSER_TESTS === "1";

/**
 * `describe` for a suite that needs a real browser. Where Chromium is missing, a developer's run skips
 * the suite with one line saying why and how to enable it; CI (`CI=true`) and `REQUIRE_BROWSER_TESTS=1`
 * run it anyway, so the missing browser fails loudly. `SKIP_BROWSER_TESTS=1` skips it everywhere.
 */
export function describeWithBrowser(name: string, fn: () => void): void {
  if (process.env.SKIP_BROWSER_TESTS === "1") {
    describe.skip(name, fn);
    return;
  }
  if (!existsSync(CHROMIUM_PATH) && !required()) {
    process.stderr.write(
      `skipped "${name}": no Chromium at ${CHROMIUM_PATH}. Enable it with \`apt-get update && apt-get install -y chromium\` ` +
        "(set REQUIRE_BROWSER_TESTS=1 to make a missing browser fail instead)\n",
    );
    describe.skip(name, fn);
    return;
  }
  describe(name, () => {
    beforeAll(() => {
      if (!existsSync(CHROMIUM_PATH)) {
        throw new Error(`the browser tests need Chromium at ${CHROMIUM_PATH}: apt-get update && apt-get install -y chromium`);
      }
    });
    fn();
  });
}
