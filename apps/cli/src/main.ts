import { run } from "./cli";
import { processOutput } from "./output";

run(process.argv.slice(2), processOutput()).then((code) => {
  process.exitCode = code;
});
