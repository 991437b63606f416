import type { ApiClient } from "../api-client";
import { ExitCode, type ExitCodeValue } from "../errors";
import { labelled, table } from "../format";
import type { Output } from "../output";

export async function createKey(
  client: ApiClient,
  options: { name?: string; tenantId?: string; json: boolean },
  output: Output,
): Promise<ExitCodeValue> {
  const key = await client.createKey({ name: options.name, tenant_id: options.tenantId });
  if (options.json) output.out(JSON.stringify(key, null, 2));
  else
    output.out(
      labelled([
        ["key", key.key],
        ["id", key.id],
        ["name", key.name],
        ["prefix", key.prefix],
        ["tenant", key.tenant_id],
        ["created", key.created_at],
      ]),
    );
  output.err("warning: store this key now: it is shown only once and cannot be retrieved again");
  return ExitCode.ok;
}

export async function listKeys(client: ApiClient, options: { json: boolean; tenantId?: string }, output: Output): Promise<ExitCodeValue> {
  const keys = await client.listKeys(options.tenantId);
  if (options.json) {
    output.out(JSON.stringify(keys, null, 2));
    return ExitCode.ok;
  }
  if (keys.length === 0) {
    output.out("no keys");
    return ExitCode.ok;
  }
  output.out(
    table(
      ["ID", "NAME", "PREFIX", "TENANT", "CREATED", "LAST USED", "REVOKED"],
      keys.map((k) => [k.id, k.name ?? "-", k.prefix, k.tenant_id, k.created_at, k.last_used_at ?? "-", k.revoked_at ?? "-"]),
    ),
  );
  return ExitCode.ok;
}

export async function revokeKey(client: ApiClient, id: string, options: { json: boolean }, output: Output): Promise<ExitCodeValue> {
  const key = await client.revokeKey(id);
  output.out(options.json ? JSON.stringify(key, null, 2) : `revoked key ${key.id} (${key.prefix}…) at ${key.revoked_at ?? "?"}`);
  return ExitCode.ok;
}
