// One lint setup for every workspace (flat config, typescript-eslint).
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/dist/**", "packages/db/src/generated/**", "bench/results/**", ".demo/**", ".faults/**", ".artifacts/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.jest } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-explicit-any": "warn",
      "no-constant-condition": ["error", { checkLoops: false }],
      // Config modules are the only readers of the environment (docs/architecture.md#configuration-and-wiring).
      "no-restricted-properties": ["error", { object: "process", property: "env", message: "read the environment only in a config module" }],
    },
  },
  {
    files: ["**/config.ts", "**/*.config.{ts,js,mjs}", "**/test/**", "**/*.test.ts", "scripts/**", "bench/**", "packages/testing/**", "e2e/**"],
    rules: { "no-restricted-properties": "off" },
  },
  { files: ["**/*.js", "**/*.cjs"], rules: { "@typescript-eslint/no-require-imports": "off" } },
);
