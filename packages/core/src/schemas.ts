export type { ExtensionCreate } from "@kex/contract";
