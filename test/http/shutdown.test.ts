/**
 * Stopping the embedded server under load on SQLite (the suite runs on PostgreSQL too, in
 * test/pg/shutdown.test.ts), and what the README tells people to run (issue 7, item 10): `npm start`
 * stops, with its whole process tree, on SIGTERM to npm.
 */
import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "../../lib/config";
import { freePort } from "../helpers/nats";
import { waitUntil } from "../helpers/process";
import { request, tempDir } from "../helpers/server";
import { embeddedShutdownSuite, groupAlive, portFree } from "./shutdown-suite";

embeddedShutdownSuite("SQLite", async (dir) => ({ CONSOLE_MCP_DB_PATH: path.join(dir, "embedded.db") }));

describe("stopping what the README runs", () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir("console-mcp-shutdown-");
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("`npm start` stops with its whole process tree on SIGTERM to npm", async () => {
    const port = await freePort();
    const npm: ChildProcess = spawn("npm", ["start"], {
      cwd: PROJECT_ROOT,
      detached: true, // its own process group, so the test can see every process it leaves
      env: {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        CONSOLE_MCP_DB_PATH: path.join(dir, "npm-start.db"),
        CONSOLE_MCP_SEED: "none",
        CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
        CONSOLE_MCP_SERVER_PORT: String(port),
        LOG_LEVEL: "warn",
      },
      stdio: "ignore",
    });
    const pgid = npm.pid!;
    try {
      await waitUntil(async () => (await request(`http://127.0.0.1:${port}/api/v1/healthz`)).status === 200, 60000, "npm start");
      const exited = new Promise((resolve) => npm.once("exit", resolve));
      npm.kill("SIGTERM");
      await exited;
      await waitUntil(async () => !groupAlive(pgid), 15000, "every process of npm start to exit");
      expect(await portFree(port)).toBe(true);
    } finally {
      if (groupAlive(pgid)) process.kill(-pgid, "SIGKILL");
    }
  }, 90000);
});
