/** One jest run for the whole monorepo. Types are checked by `turbo run typecheck`, so ts-jest only transpiles. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
  testMatch: [
    "<rootDir>/{apps,packages}/*/{src,test}/**/*.test.ts",
    "<rootDir>/e2e/{src,test}/**/*.test.ts",
    "<rootDir>/scripts/test/**/*.test.ts",
  ],
  globalSetup: "<rootDir>/packages/testing/src/global-setup.ts",
  globalTeardown: "<rootDir>/packages/testing/src/global-teardown.ts",
  testTimeout: 60_000,
  maxWorkers: 2,
};
