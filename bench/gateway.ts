/**
 * Gateway overhead: requests/s and latency of GET /api/v1/providers (a) embedded — gateway and
 * providers in one process — and (b) gateway and providers in two processes over NATS, each as a
 * ratio to a bare node:http server returning the same bytes, all measured in this one run.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
// autocannon ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require("autocannon") as (opts: Record<string, unknown>) => Promise<AutocannonResult>;
import { Child, freePort, spawnBareServer, spawnChild, spawnServer, waitForHttp } from "./processes";

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
}

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

interface Figure {
  name: string;
  rps: number;
  p50: number;
  p99: number;
}

async function load(name: string, url: string): Promise<Figure> {
  await autocannon({ url, connections: CONNECTIONS, duration: 2 }); // warm-up
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S });
  if (r.errors > 0 || r.non2xx > 0) throw new Error(`${name}: ${r.errors} errors, ${r.non2xx} non-2xx answers`);
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

export async function benchGateway(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-gateway-"));
  const children: Child[] = [];
  try {
    // (a) embedded
    const embeddedPort = await freePort();
    const embedded = spawnServer({
      SERVICES: "api,providers",
      CONSOLE_MCP_SERVER_PORT: String(embeddedPort),
      CONSOLE_MCP_DB_PATH: path.join(dir, "embedded.db"),
    });
    children.push(embedded);
    const embeddedUrl = `http://127.0.0.1:${embeddedPort}/api/v1/providers`;
    await waitForHttp(embeddedUrl);
    const bytes = await (await fetch(embeddedUrl)).text();

    // baseline: bare node:http with the same bytes
    const barePort = await freePort();
    children.push(spawnBareServer(barePort, bytes));
    const bareUrl = `http://127.0.0.1:${barePort}/api/v1/providers`;
    await waitForHttp(bareUrl);
    if ((await (await fetch(bareUrl)).text()) !== bytes) throw new Error("baseline bytes differ");

    // what moleculer-web costs: the same action behind a hand-written node:http handler
    const plainPort = await freePort();
    children.push(spawnChild(process.execPath, ["--import", "tsx", path.join(__dirname, "plain-http-gateway.ts"), String(plainPort)]));
    const plainUrl = `http://127.0.0.1:${plainPort}/api/v1/providers`;
    await waitForHttp(plainUrl);
    if ((await (await fetch(plainUrl)).text()) !== bytes) throw new Error("plain gateway bytes differ");

    // (b) gateway and providers over NATS
    const natsPort = await freePort();
    children.push(spawnChild("nats-server", ["-a", "127.0.0.1", "-p", String(natsPort)]));
    const transporter = `nats://127.0.0.1:${natsPort}`;
    const gatewayPort = await freePort();
    children.push(
      spawnServer({ SERVICES: "providers", TRANSPORTER: transporter, NODE_ID: "bench-providers", CONSOLE_MCP_DB_PATH: path.join(dir, "nats.db") }),
    );
    children.push(
      spawnServer({
        SERVICES: "api",
        TRANSPORTER: transporter,
        NODE_ID: "bench-gateway",
        CONSOLE_MCP_SERVER_PORT: String(gatewayPort),
        CONSOLE_MCP_DB_PATH: path.join(dir, "nats.db"),
      }),
    );
    const natsUrl = `http://127.0.0.1:${gatewayPort}/api/v1/providers`;
    await waitForHttp(natsUrl, 30000);

    const figures: Figure[] = [];
    figures.push(await load("bare node:http", bareUrl));
    figures.push(await load("(a) embedded", embeddedUrl));
    figures.push(await load("node:http + broker.call (no moleculer-web), for reference", plainUrl));
    figures.push(await load("(b) over NATS", natsUrl));
    const base = figures[0];
    console.log(`GET /api/v1/providers, ${CONNECTIONS} connections, ${DURATION_S} s each, ${bytes.length} bytes per answer`);
    console.log("| server | req/s | p50 ms | p99 ms | req/s ratio to bare |");
    console.log("| --- | --- | --- | --- | --- |");
    for (const f of figures) {
      console.log(`| ${f.name} | ${f.rps.toFixed(0)} | ${f.p50} | ${f.p99} | ${(f.rps / base.rps).toFixed(2)}x |`);
    }
    console.log("goals: (a) >= 0.60x, (b) >= 0.35x");
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
