export { createOpenApiDocument } from "./document";
export { openApiRoutes } from "./routes";
