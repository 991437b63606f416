export * from "./metrics";
export * from "./scrape";
