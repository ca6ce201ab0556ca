/**
 * Starts the real services in one in-process broker, with a temporary SQLite file (or a given
 * PostgreSQL URL) and the gateway on an ephemeral port.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { ServiceBroker } from "moleculer";
import { Config, loadConfig } from "../../lib/config";
import { createBroker } from "../../lib/server";

export interface TestServer {
  broker: ServiceBroker;
  config: Config;
  /** e.g. http://127.0.0.1:41234/api/v1 */
  baseUrl: string;
  dir: string;
  stop(): Promise<void>;
}

export function tempDir(prefix = "console-mcp-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * env: extra environment for loadConfig. By default the store is a new SQLite file, nothing is
 * seeded (CONSOLE_MCP_SEED=none), the gateway listens on 127.0.0.1:0 and the secrets key file (made
 * on first use) is in the test's folder. `brokerOptions` replace the broker's (default: no logger).
 */
export async function startTestServer(
  env: Record<string, string> = {},
  brokerOptions: Partial<ConstructorParameters<typeof ServiceBroker>[0]> = {},
): Promise<TestServer> {
  const dir = tempDir();
  const config = loadConfig(
    {
      CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
      CONSOLE_MCP_SERVER_PORT: "0",
      CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
      CONSOLE_MCP_SEED: "none",
      CONSOLE_MCP_SECRETS_KEY_FILE: path.join(dir, "secrets.key"),
      LOG_LEVEL: "warn",
      ...env,
    },
    "development",
  );
  const broker = createBroker(config, { logger: false, ...brokerOptions });
  await broker.start();
  let baseUrl = "";
  if (config.services.includes("api")) {
    const server = (broker.getLocalService("api") as unknown as { server: Server }).server;
    const port = (server.address() as AddressInfo).port;
    baseUrl = `http://127.0.0.1:${port}/api/v1`;
  }
  return {
    broker,
    config,
    baseUrl,
    dir,
    async stop() {
      await broker.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** fetch + JSON body, returning status, headers and the parsed body (text when not JSON). */
export async function request(
  url: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (json !== undefined) {
    headers.set("content-type", "application/json");
    rest.body = JSON.stringify(json);
  }
  const res = await fetch(url, { ...rest, headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body, text };
}
