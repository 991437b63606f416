import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ApiClient } from "./api-client";
import { listBatches } from "./commands/batches";
import { cancel } from "./commands/cancel";
import { createChain, retryChain, showChain } from "./commands/chains";
import { createKey, listKeys, revokeKey } from "./commands/keys";
import { EXPORT_FORMATS, exportBatches } from "./commands/export";
import { status } from "./commands/status";
import { submit } from "./commands/submit";
import { watch } from "./commands/watch";
import { readEnvDefaults, resolveConnection } from "./config";
import { CliError, ExitCode, type ExitCodeValue } from "./errors";
import { INPUT_FORMATS } from "./input";
import type { Output } from "./output";
import { version as VERSION } from "../package.json";

const DEFAULT_INTERVAL_MS = 1000;
const DEFAULT_GIVE_UP_AFTER_S = 300;

function cfgScale(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError("expected a number from 0 to 1");
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

interface GlobalOptions {
  url?: string;
  token?: string;
}

/** Builds the program. Each action stores its exit code in `result.code`. */
function buildProgram(output: Output, result: { code: ExitCodeValue }): Command {
  const env = readEnvDefaults();
  const program = new Command("kex")
    .description("Command line for the Kling extension orchestrator's HTTP API")
    .version(VERSION)
    .option("--url <url>", `API base URL (env KEX_URL, default ${env.url})`)
    .option("--token <token>", "API token (env KEX_TOKEN; prefer the environment: flags show up in `ps`)")
    .exitOverride()
    .configureOutput({ writeOut: (s) => output.stdout.write(s), writeErr: (s) => output.stderr.write(s) })
    .showHelpAfterError("(run kex --help for usage)");

  const client = (cmd: Command) => new ApiClient(resolveConnection(cmd.optsWithGlobals<GlobalOptions>(), env));
  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<ExitCodeValue>) =>
    async (...args: A) => {
      result.code = await fn(...args);
    };
  const interval = () =>
    new Option("--interval <ms>", "pause between polls, in milliseconds").argParser(positiveInt).default(DEFAULT_INTERVAL_MS);
  const noProgress = () => new Option("--no-progress", "no progress line (only the final summary)");
  const giveUp = () =>
    new Option("--give-up-after <seconds>", "stop waiting when the API stays unreachable this long (the jobs go on)")
      .argParser(positiveInt)
      .default(DEFAULT_GIVE_UP_AFTER_S);

  program
    .command("submit")
    .description("validate a JSONL or CSV file of extension jobs (all rows or nothing) and submit it in batches")
    .argument("<file>", "file.jsonl (one job object a line) or file.csv (header row)")
    .option("--batch-size <n>", "jobs per batch (at most 10000)", positiveInt, 10_000)
    .option("--callback-url <url>", "callback for the jobs whose row names none")
    .option("--name <name>", "the batches' name (default: the file's name)")
    .addOption(new Option("--format <format>", "input format when the extension does not tell").choices(INPUT_FORMATS))
    .option("--from-line <n>", "skip the rows before this line", positiveInt, 1)
    .option("--resubmit", "create new batches even if these rows were already submitted (by default a rerun finds its batches)")
    .option("--wait", "wait until every job is finished, with a progress line")
    .addOption(interval())
    .addOption(noProgress())
    .addOption(giveUp())
    .action(
      action(async (file: string, opts, cmd: Command) =>
        submit(
          client(cmd),
          {
            file,
            format: opts.format,
            batchSize: opts.batchSize,
            callbackUrl: opts.callbackUrl,
            name: opts.name,
            fromLine: opts.fromLine,
            resubmit: Boolean(opts.resubmit),
            wait: Boolean(opts.wait),
            intervalMs: opts.interval,
            progress: opts.progress,
            giveUpAfterMs: opts.giveUpAfter * 1000,
          },
          output,
        ),
      ),
    );

  program
    .command("status")
    .description("show a job, a batch or a chain")
    .argument("<id>", "job, batch or chain id")
    .option("--json", "print the API's JSON")
    .action(action(async (id: string, opts, cmd: Command) => status(client(cmd), id, { json: Boolean(opts.json) }, output)));

  program
    .command("watch")
    .description("progress of one or more batches until every job is finished")
    .argument("<batch-id...>")
    .addOption(interval())
    .addOption(noProgress())
    .addOption(giveUp())
    .action(
      action(async (ids: string[], opts, cmd: Command) =>
        watch(client(cmd), ids, { intervalMs: opts.interval, progress: opts.progress, giveUpAfterMs: opts.giveUpAfter * 1000 }, output),
      ),
    );

  program
    .command("export")
    .description("write every job of one or more batches in input order: the input's columns and line, then the result and error")
    .argument("<batch-id...>")
    .addOption(new Option("--format <format>", "output format (default: from --out's extension, else jsonl)").choices(EXPORT_FORMATS))
    .option("--out <file>", "write to this file (default stdout)")
    .action(
      action(async (ids: string[], opts, cmd: Command) => exportBatches(client(cmd), ids, { format: opts.format, out: opts.out }, output)),
    );

  program
    .command("batches")
    .description("list batches, newest first, with their name, progress, input lines and metadata")
    .option("--limit <n>", "batches per page (at most 200)", positiveInt, 20)
    .option("--cursor <cursor>", "the page after the one that printed this cursor")
    .option("--json", "print the API's JSON")
    .action(
      action(async (opts, cmd: Command) =>
        listBatches(client(cmd), { limit: opts.limit, cursor: opts.cursor, json: Boolean(opts.json) }, output),
      ),
    );

  program
    .command("cancel")
    .description("cancel a job, or every unfinished job of a batch")
    .argument("<id>", "job id or batch id")
    .option("--json", "print the API's JSON")
    .action(action(async (id: string, opts, cmd: Command) => cancel(client(cmd), id, { json: Boolean(opts.json) }, output)));

  const chains = program.command("chains").description("extension chains: step n extends step n-1's result");
  chains
    .command("create")
    .description("extend a video several times in a row, one --step prompt per extension")
    .argument("<video-id>", "the source video")
    .requiredOption("--step <prompt>", "a step's prompt (repeat for each step, in order)", (value: string, previous: string[] = []) => [
      ...previous,
      value,
    ])
    .option("--negative-prompt <text>", "for every step")
    .option("--cfg-scale <number>", "for every step, 0 to 1", cfgScale)
    .option("--callback-url <url>", "told when each step finishes")
    .option("--json", "print the API's JSON")
    .action(
      action(async (videoId: string, opts, cmd: Command) =>
        createChain(
          client(cmd),
          {
            videoId,
            steps: opts.step,
            negativePrompt: opts.negativePrompt,
            cfgScale: opts.cfgScale,
            callbackUrl: opts.callbackUrl,
            json: Boolean(opts.json),
          },
          output,
        ),
      ),
    );
  chains
    .command("show")
    .description("a chain with each step's latest job")
    .argument("<chain-id>")
    .option("--json", "print the API's JSON")
    .action(action(async (id: string, opts, cmd: Command) => showChain(client(cmd), id, { json: Boolean(opts.json) }, output)));
  chains
    .command("retry")
    .description("resume a failed chain from the step that failed")
    .argument("<chain-id>")
    .option("--json", "print the API's JSON")
    .action(action(async (id: string, opts, cmd: Command) => retryChain(client(cmd), id, { json: Boolean(opts.json) }, output)));

  const keys = program.command("keys").description("API keys");
  keys
    .command("create")
    .description("create an API key (its secret is shown once)")
    .option("--name <name>", "a label for the key")
    .option("--tenant-id <id>", "the tenant the key belongs to")
    .option("--json", "print the API's JSON")
    .action(
      action(async (opts, cmd: Command) =>
        createKey(client(cmd), { name: opts.name, tenantId: opts.tenantId, json: Boolean(opts.json) }, output),
      ),
    );
  keys
    .command("list")
    .description("list API keys")
    .option("--tenant-id <id>", "another tenant's keys (the admin token only)")
    .option("--json", "print the API's JSON")
    .action(action(async (opts, cmd: Command) => listKeys(client(cmd), { json: Boolean(opts.json), tenantId: opts.tenantId }, output)));
  keys
    .command("revoke")
    .description("revoke an API key")
    .argument("<key-id>")
    .option("--json", "print the API's JSON")
    .action(action(async (id: string, opts, cmd: Command) => revokeKey(client(cmd), id, { json: Boolean(opts.json) }, output)));

  return program;
}

/** Runs the CLI with `argv` (without node and the script) and returns the exit code. */
export async function run(argv: string[], output: Output): Promise<ExitCodeValue> {
  const result: { code: ExitCodeValue } = { code: ExitCode.ok };
  try {
    await buildProgram(output, result).parseAsync(argv, { from: "user" });
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version end with 0; every parse error is a usage error. Commander printed the message.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    // The reader went away (`kex export … | head`): not an error.
    if ((err as NodeJS.ErrnoException)?.code === "EPIPE") return ExitCode.ok;
    if (err instanceof CliError) {
      output.err(`error: ${err.message}`);
      return err.exitCode;
    }
    output.err(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    return ExitCode.internal;
  }
}
