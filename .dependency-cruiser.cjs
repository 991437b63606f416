/**
 * Import rules, checked by `npm run check:imports` (part of `npm test`). docs/architecture.md#import-rules says
 * why they exist. Workspace names (`@kex/api`, …) are npm-workspace symlinks in node_modules; following them
 * (preserveSymlinks: false) resolves each one to the real file under apps/ or packages/, so an import by
 * package name is judged exactly like the same import by relative path.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "An import cycle: split the shared part into its own module. Type-only imports count too.",
      from: {},
      to: { circular: true },
    },
    {
      name: "package-imports-app",
      severity: "error",
      comment: "packages/ are libraries: they never reach up into a deployable or into the e2e workspace.",
      from: { path: "^packages/" },
      to: { path: "^(apps|e2e)/" },
    },
    {
      name: "app-imports-other-app",
      severity: "error",
      comment: "An app wires packages; a test that needs two apps belongs in e2e/, the only workspace that may import apps.",
      from: { path: "^apps/([^/]+)/" },
      to: { path: "^apps/", pathNot: "^apps/$1/" },
    },
    {
      name: "tool-imports-app",
      severity: "error",
      comment: "The fault suite and the bench start apps as processes; shared code they need lives in a package.",
      from: { path: "^(scripts|bench)/" },
      to: { path: "^(apps|e2e)/" },
    },
  ],
  options: {
    includeOnly: "^(apps|packages|e2e|scripts|bench)/",
    // Third-party code (a workspace may have its own node_modules) and the client `prisma generate` writes are not ours to arrange.
    exclude: { path: ["/node_modules/", "^packages/db/src/generated/"] },
    doNotFollow: { path: "node_modules" },
    // Type-only imports are dependencies too: a package may not even name an app's types.
    tsPreCompilationDeps: true,
    preserveSymlinks: false,
    moduleSystems: ["cjs", "es6"],
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["require", "node", "default", "types"],
      mainFields: ["main", "types"],
      extensions: [".ts", ".js", ".cjs", ".mjs", ".json"],
    },
  },
};
