import { randomUUID } from "node:crypto";
import { ChainCreateSchema, toValidationDetails } from "@kex/contract";
import { withRetry, type ApiClient } from "../api-client";
import { ExitCode, UsageError, type ExitCodeValue } from "../errors";
import type { Output } from "../output";
import { describeChain } from "./status";

export interface ChainCreateOptions {
  videoId: string;
  /** One prompt per step, in order. */
  steps: string[];
  negativePrompt?: string;
  cfgScale?: number;
  callbackUrl?: string;
  json: boolean;
}

/** `POST /v1/chains`, validated here first with the API's schema; retried safely with an Idempotency-Key. */
export async function createChain(client: ApiClient, options: ChainCreateOptions, output: Output): Promise<ExitCodeValue> {
  const input = {
    video_id: options.videoId,
    steps: options.steps.map((prompt) => ({
      prompt,
      ...(options.negativePrompt === undefined ? {} : { negative_prompt: options.negativePrompt }),
      ...(options.cfgScale === undefined ? {} : { cfg_scale: options.cfgScale }),
    })),
    ...(options.callbackUrl === undefined ? {} : { callback_url: options.callbackUrl }),
  };
  const parsed = ChainCreateSchema.safeParse(input);
  if (!parsed.success) {
    throw new UsageError(
      toValidationDetails(parsed.error)
        .map((d) => `${d.field}: ${d.message}`)
        .join("\n"),
    );
  }
  // One key per invocation: a retry of this POST cannot create a second chain.
  const key = `kex-chain-${randomUUID()}`;
  const { body: chain } = await withRetry(() => client.createChain(parsed.data, key), { attempts: 6, baseDelayMs: 1000 });
  output.out(options.json ? JSON.stringify(chain, null, 2) : describeChain(chain));
  return ExitCode.ok;
}

export async function showChain(client: ApiClient, id: string, options: { json: boolean }, output: Output): Promise<ExitCodeValue> {
  const chain = await client.getChain(id);
  output.out(options.json ? JSON.stringify(chain, null, 2) : describeChain(chain));
  return ExitCode.ok;
}

export async function retryChain(client: ApiClient, id: string, options: { json: boolean }, output: Output): Promise<ExitCodeValue> {
  const chain = await client.retryChain(id);
  output.out(options.json ? JSON.stringify(chain, null, 2) : describeChain(chain));
  return ExitCode.ok;
}
