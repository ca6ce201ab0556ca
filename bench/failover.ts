/**
 * `npm run bench -- failover`: failover and shutdown figures over a real NATS server, every role in
 * its own process (gateway, providers, two sessions replicas, one SQLite file), side by side with
 * the NATS node probe on (default) and off (Moleculer's stock NATS transporter):
 * - SIGKILL one of two sessions replicas under an open-loop load (BENCH_FAILOVER_RPS, default 100/s):
 *   failed requests, p50/p99/max latency over the whole run and over the 2 s after the kill;
 * - SIGKILL the only providers process: latency of the answers (503) in the 3 s that follow;
 * - SIGTERM the gateway under 16 closed-loop keep-alive clients: requests answered after the signal,
 *   failed accepted requests, and the time to exit.
 * Heartbeats are the defaults (2 s / 6 s) and REQUEST_TIMEOUT is 10 s, as a user runs it.
 */
import fs from "node:fs";
import path from "node:path";
import { closedLoop, openLoop, Outcome, quantile, summarize } from "../test/helpers/load";
import { startNats } from "../test/helpers/nats";
import { ServerProcess, startServerProcess, waitUntil } from "../test/helpers/process";
import { tempDir } from "../test/helpers/server";
import { freePort } from "./processes";

const RPS = Number(process.env.BENCH_FAILOVER_RPS ?? 100);

interface Row {
  scenario: string;
  probe: string;
  requests: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
  note: string;
}

const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(1) : "-");

function row(scenario: string, probe: string, outcomes: Outcome[], ok: (o: Outcome) => boolean, note = ""): Row {
  const ms = outcomes.map((o) => o.ms);
  const failed = outcomes.filter((o) => !ok(o));
  if (failed.length > 0) note = `${note}${note === "" ? "" : "; "}failed: ${JSON.stringify(summarize(failed))}`;
  return {
    scenario,
    probe,
    requests: outcomes.length,
    failed: failed.length,
    p50: quantile(ms, 0.5),
    p99: quantile(ms, 0.99),
    max: ms.length === 0 ? Number.NaN : Math.max(...ms),
    note,
  };
}

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

async function cluster(probe: "on" | "off"): Promise<Row[]> {
  const nats = await startNats();
  const dir = tempDir("console-mcp-failover-");
  const procs: ServerProcess[] = [];
  const gwPort = await freePort();
  const gw = `http://127.0.0.1:${gwPort}/api/v1`;
  const start = (name: string, env: Record<string, string>) => {
    const p = startServerProcess(name, {
      TRANSPORTER: nats.url,
      NODE_ID: `${name}-${probe}-${process.pid}`,
      NATS_NODE_PROBE: probe,
      CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
      CONSOLE_MCP_SEED: "none",
      CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      ...env,
    });
    procs.push(p);
    return p;
  };
  const rows: Row[] = [];
  try {
    const gateway = start("gateway", { SERVICES: "api", CONSOLE_MCP_SERVER_PORT: String(gwPort) });
    const providers = start("providers", { SERVICES: "providers" });
    const sessionsA = start("sessions-a", { SERVICES: "sessions" });
    start("sessions-b", { SERVICES: "sessions" });
    await waitUntil(
      async () => {
        if (!procs.every((p) => /started successfully/.test(p.output()))) return false;
        const checks = (await getJson(`${gw}/readyz`)).body?.checks;
        return checks?.sessions === "ok" && checks?.providers === "ok" && checks?.store === "ok";
      },
      60000,
      "the cluster",
    );
    await new Promise((r) => setTimeout(r, 1000));
    const created = await fetch(`${gw}/providers/gemini/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ reason: "bench" }),
    }).then((r) => r.json() as Promise<{ session: { id: string } }>);
    const calls = (i: number) =>
      i % 2 === 0
        ? { method: "POST" as const, url: `${gw}/providers/codex/sessions`, json: { reason: `load-${i}` } }
        : { method: "GET" as const, url: `${gw}/sessions/${created.session.id}` };

    const killAt = 2000;
    const killed = await openLoop(RPS, 14000, calls, [{ at: killAt, run: () => void sessionsA.kill() }]);
    const ok200 = (o: Outcome) => o.status === 200;
    rows.push(row(`SIGKILL 1 of 2 sessions, ${RPS} req/s`, probe, killed, ok200, "whole run"));
    rows.push(
      row(
        `  the 2 s after the kill`,
        probe,
        killed.filter((o) => o.at >= killAt && o.at < killAt + 2000),
        ok200,
      ),
    );

    await providers.kill();
    const noProviders = await openLoop(20, 3000, () => ({ method: "GET", url: `${gw}/providers` }));
    rows.push(row("SIGKILL the only providers: GET /providers", probe, noProviders, (o) => o.status === 503, "503 expected"));

    // Reads only: providers is dead by now, and session creation asks it for the provider.
    const load = closedLoop(16, () => ({ method: "GET", url: `${gw}/sessions/${created.session.id}` }));
    await new Promise((r) => setTimeout(r, 1500));
    const signalled = performance.now();
    const before = load.outcomes.length;
    await gateway.stop();
    const exitMs = performance.now() - signalled;
    const all = await load.stop();
    const after = all.slice(before);
    rows.push(
      row(
        "SIGTERM gateway, 16 keep-alive clients",
        probe,
        after,
        (o) => o.status === 200 || o.notAccepted === true,
        `exit after ${fmt(exitMs)} ms; exit code ${gateway.child.exitCode}`,
      ),
    );
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await nats.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export async function benchFailover(): Promise<void> {
  const rows = [...(await cluster("on")), ...(await cluster("off"))];
  console.log("\n| scenario | node probe | requests | failed | p50 ms | p99 ms | max ms | note |");
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(`| ${r.scenario} | ${r.probe} | ${r.requests} | ${r.failed} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.note} |`);
  }
  const on = rows.filter((r) => r.probe === "on");
  const off = rows.filter((r) => r.probe === "off");
  console.log("\nratio probe on / off (p99):");
  on.forEach((r, i) => {
    console.log(`  ${r.scenario.trim()}: ${(r.p99 / off[i].p99).toFixed(3)}x`);
  });
}
