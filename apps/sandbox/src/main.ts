import { loadConfig } from "./config";
import { startSandbox } from "./sandbox";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
  const sandbox = await startSandbox(config);
  const options = sandbox.options();
  console.log(
    JSON.stringify({
      msg: "sandbox listening",
      url: sandbox.url,
      api: `${sandbox.url}${options.pathPrefix}/v1/videos/video-extend`,
      auth: { staticKey: options.apiKey !== null, jwt: options.accessKey !== null },
    }),
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.log(JSON.stringify({ msg: "sandbox stopping", signal }));
    sandbox.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
