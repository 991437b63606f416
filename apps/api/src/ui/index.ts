export { uiRoutes, type UiRouteDeps } from "./routes";
