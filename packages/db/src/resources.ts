export { toBatchResource, toJobResource, type StatusCounts } from "@kex/contract";
