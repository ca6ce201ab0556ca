/**
 * For the gateway benchmark only: the providers service (with its store, which holds the catalog)
 * in an in-process broker behind a hand-written node:http handler (no moleculer-web) that calls the
 * same action. It separates the cost of moleculer-web's request pipeline from the cost of the broker
 * call itself.
 */
import http from "node:http";
import { loadConfig } from "../lib/config";
import { createBroker } from "../lib/server";

// argv: the port, and the SQLite file of the catalog the providers service keeps.
const port = Number(process.argv[2]);
const config = loadConfig({ LOG_LEVEL: "warn", SERVICES: "providers", CONSOLE_MCP_DB_PATH: process.argv[3], CONSOLE_MCP_SEED: "none" });
const broker = createBroker(config);

// A clean exit on SIGTERM, so `node --cpu-prof` writes its profile.
process.on("SIGTERM", () => void broker.stop().then(() => process.exit(0)));

void broker.start().then(() => {
  http
    .createServer((_req, res) => {
      broker.call("providers.catalog").then((data) => {
        const body = JSON.stringify(data);
        res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
        res.end(body);
      });
    })
    .listen(port, "127.0.0.1");
});
