/**
 * Secrets over real HTTP with real server processes (runtime-contract §24), shared by the SQLite run
 * (test/http/secrets.test.ts) and the PostgreSQL run (test/pg/secrets.test.ts): PUT/GET/list/DELETE
 * and their errors; the secret in a running process's `secret_env` variable (a test server that
 * echoes it through a tool), kept until a restart; `POST /secrets/{id}/test` as a real handshake
 * (healthy, degraded, a rejected key with its stderr masked); a value copied to another server's row
 * and an edited row fail to decrypt with a clear error; the key rotation command re-encrypts every
 * value while the server runs. Through all of it, every log line of every level, every broker event,
 * every error body and every other answer is kept, and no secret value may appear in any of them
 * (nor in the SQLite file). No process is left at the end.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { Knex } from "knex";
import { createKnex } from "../../lib/store/knex";
import { CaptureLogger, eventCapture } from "../helpers/capture";
import { CONFIGURABLE_SERVER, eventually, liveChildren } from "../helpers/process-groups";
import { startTestServer, tempDir, TestServer } from "../helpers/server";

const run = promisify(execFile);
const PROJECT_ROOT = path.resolve(__dirname, "../..");

export type SecretsStoreFactory = () => Promise<{ env: Record<string, string>; drop: () => Promise<void> }>;

const node = process.execPath;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

interface Answer {
  status: number;
  body: any;
  text: string;
}

export function secretsSuite(label: string, makeStore: SecretsStoreFactory): void {
  describe(`${label}: secrets over HTTP (§24)`, () => {
    // The values stored in this run: none may appear anywhere but where the contract shows it.
    const VALUE = `sk-vault-${randomBytes(12).toString("hex")}`;
    const NEXT = `sk-vault-next-${randomBytes(12).toString("hex")}`;
    const GOOD = `sk-locked-good-${randomBytes(12).toString("hex")}`;
    const BAD = `sk-locked-bad-${randomBytes(12).toString("hex")}`;
    const OTHER = `sk-other-${randomBytes(12).toString("hex")}`;
    const ALL = [VALUE, NEXT, GOOD, BAD, OTHER];

    let server: TestServer;
    let dir: string;
    let drop: () => Promise<void>;
    let db: Knex;
    let env: Record<string, string>;
    const lines: string[] = [];
    const events: string[] = [];
    /** Every answer that may not show a value (everything but the reveal, the PUT answer and the env tool's result). */
    const scanned: string[] = [];

    async function call(method: string, p: string, json?: unknown, opts: { mayShowValue?: boolean } = {}): Promise<Answer> {
      const headers: Record<string, string> = { "content-type": "application/json" };
      const res = await fetch(`${server.baseUrl}${p}`, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
      const text = await res.text();
      if (!opts.mayShowValue || res.status >= 400) scanned.push(`${method} ${p} ${res.status} ${text}`);
      return { status: res.status, body: text === "" ? null : JSON.parse(text), text };
    }

    function manifest(): string {
      const file = path.join(dir, "servers.json");
      const common = { transport: "stdio", command: node, startup_timeout_s: 30 };
      const providers = [
        {
          id: "vault",
          name: "Vault",
          ...common,
          args: [CONFIGURABLE_SERVER, "--env-tool", "--print-env", "VAULT_TOKEN"],
          secret_env: "VAULT_TOKEN",
          degraded_latency_ms: 60_000,
        },
        {
          id: "locked",
          name: "Locked",
          ...common,
          args: [CONFIGURABLE_SERVER, "--require-env", `LOCKED_API_KEY=sha256:${sha256(GOOD)}`],
          degraded_latency_ms: 60_000,
        },
        { id: "slow", name: "Slow", ...common, args: [CONFIGURABLE_SERVER], degraded_latency_ms: 1 },
        { id: "other", name: "Other", ...common, args: [CONFIGURABLE_SERVER, "--env-tool"] },
      ];
      fs.writeFileSync(file, JSON.stringify({ providers }));
      return file;
    }

    beforeAll(async () => {
      dir = tempDir("console-mcp-secrets-");
      const store = await makeStore();
      drop = store.drop;
      env = {
        CONSOLE_MCP_SERVERS_PATH: manifest(),
        CONSOLE_MCP_HEALTH_INTERVAL_S: "0",
        CONSOLE_MCP_SECRETS_KEY_FILE: path.join(dir, "keys", "secrets.key"),
        LOG_LEVEL: "trace",
        ...store.env,
      };
      server = await startTestServer(env, { logger: new CaptureLogger(lines) as never, logLevel: "trace" });
      server.broker.createService(eventCapture(events));
      await eventually(() => server.broker.getLocalService("test-event-capture") !== undefined, 5000, "the event capture");
      db = createKnex({ dbUrl: store.env.CONSOLE_MCP_DB_URL ?? null, dbPath: path.join(server.dir, "console.db") });
    }, 60_000);

    afterAll(async () => {
      await db?.destroy();
      await server?.stop();
      // Every process this run spawned (supervised or a test's single run) is gone with its group.
      await eventually(() => liveChildren(process.pid).length === 0, 15_000, "no server process left");
      await drop?.();
      fs.rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it("no secret yet: an empty list, 404s, and no key file created", async () => {
      expect((await call("GET", "/secrets")).body).toEqual({ secrets: [] });
      expect(await call("GET", "/secrets/vault")).toMatchObject({ status: 404, body: { detail: "Secret for provider 'vault' not found" } });
      expect(await call("DELETE", "/secrets/vault")).toMatchObject({ status: 404, body: { detail: "Secret for provider 'vault' not found" } });
      expect(await call("POST", "/secrets/vault/test")).toMatchObject({ status: 404, body: { detail: "Secret for provider 'vault' not found" } });
      expect(await call("POST", "/secrets/nope/test")).toMatchObject({ status: 404, body: { detail: "Server 'nope' not found" } });
      expect(fs.existsSync(env.CONSOLE_MCP_SECRETS_KEY_FILE)).toBe(false);
    });

    it("PUT stores a value (422 before 404, no value echoed), GET reveals it, the list shows it", async () => {
      for (const body of [{}, { value: "" }, { value: 42 }, { value: "x".repeat(8193) }, { value: `${VALUE}\u0000` }, { value: `${VALUE}\ud800` }]) {
        const res = await call("PUT", "/secrets/nope", body);
        expect(res.status).toBe(422);
        expect(res.body.detail[0].loc).toEqual(["body", "value"]);
        expect(res.body.detail[0]).not.toHaveProperty("input");
      }
      expect(await call("PUT", "/secrets/nope", { value: VALUE })).toMatchObject({ status: 404, body: { detail: "Server 'nope' not found" } });

      const put = await call("PUT", "/secrets/vault", { value: VALUE }, { mayShowValue: true });
      expect(put.status).toBe(200);
      expect(put.body).toEqual({ provider_id: "vault", value: VALUE, updated_at: expect.stringMatching(/Z$/) });
      const keyFile = env.CONSOLE_MCP_SECRETS_KEY_FILE;
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);

      const got = await call("GET", "/secrets/vault", undefined, { mayShowValue: true });
      expect(got).toMatchObject({ status: 200, body: { provider_id: "vault", value: VALUE, updated_at: put.body.updated_at } });
      expect((await call("GET", "/secrets")).body).toEqual({
        secrets: [{ provider_id: "vault", has_secret: true, updated_at: put.body.updated_at }],
      });

      // Stored encrypted: the row holds no plaintext.
      const [row] = await db("secrets").where({ provider_id: "vault" });
      expect(JSON.stringify(row)).not.toContain(VALUE);
      expect(Buffer.from(row.nonce, "base64")).toHaveLength(12);
    });

    it("a started process gets the secret in its secret_env variable; its stderr shows it masked", async () => {
      const start = await call("POST", "/servers/vault/process/start");
      expect(start.status).toBe(200);
      expect(start.body.process.status).toBe("running");
      const echoed = await call("POST", "/servers/vault/tools/env/call", { arguments: { name: "VAULT_TOKEN" } }, { mayShowValue: true });
      expect(echoed.status).toBe(200);
      expect(echoed.body.result.content[0].text).toBe(VALUE);
      // The default variable is not set: only secret_env carries it.
      const other = await call("POST", "/servers/vault/tools/env/call", { arguments: { name: "VAULT_API_KEY" } });
      expect(other.body.result.content[0].text).toBe("(unset)");
      const logs = await call("GET", "/servers/vault/process/logs?limit=1000");
      expect(logs.body.logs.map((l: any) => l.message)).toContain("error: key *** rejected");
    }, 60_000);

    it("a new value reaches the process at its next start only", async () => {
      expect((await call("PUT", "/secrets/vault", { value: NEXT }, { mayShowValue: true })).status).toBe(200);
      const still = await call("POST", "/servers/vault/tools/env/call", { arguments: { name: "VAULT_TOKEN" } }, { mayShowValue: true });
      expect(still.body.result.content[0].text).toBe(VALUE);
      expect((await call("POST", "/servers/vault/process/restart")).body.process.status).toBe("running");
      const after = await call("POST", "/servers/vault/tools/env/call", { arguments: { name: "VAULT_TOKEN" } }, { mayShowValue: true });
      expect(after.body.result.content[0].text).toBe(NEXT);
      expect((await call("POST", "/servers/vault/process/stop")).status).toBe(200);
    }, 60_000);

    it("POST /secrets/{id}/test runs the server once with the secret: healthy, degraded, or error with masked stderr", async () => {
      const healthy = await call("POST", "/secrets/vault/test");
      expect(healthy.status).toBe(200);
      expect(healthy.body).toEqual({
        provider_id: "vault",
        status: "healthy",
        latency_ms: expect.any(Number),
        tested_at: expect.stringMatching(/Z$/),
        message: null,
      });
      // Not a supervised process: the server stays stopped.
      expect((await call("GET", "/servers/vault/process")).body.process.status).toBe("stopped");

      expect((await call("PUT", "/secrets/locked", { value: BAD }, { mayShowValue: true })).status).toBe(200);
      const rejected = await call("POST", "/secrets/locked/test");
      expect(rejected.status).toBe(200);
      expect(rejected.body).toMatchObject({ provider_id: "locked", status: "error", latency_ms: null });
      expect(rejected.body.message).toContain("exited with code 2 before the MCP handshake finished");
      expect(rejected.body.message).toContain("error: key *** rejected");

      expect((await call("PUT", "/secrets/locked", { value: GOOD }, { mayShowValue: true })).status).toBe(200);
      expect((await call("POST", "/secrets/locked/test")).body).toMatchObject({ status: "healthy", message: null });

      expect((await call("PUT", "/secrets/slow", { value: OTHER }, { mayShowValue: true })).status).toBe(200);
      const degraded = await call("POST", "/secrets/slow/test");
      expect(degraded.body).toMatchObject({ provider_id: "slow", status: "degraded", latency_ms: expect.any(Number) });
      expect(degraded.body.message).toMatch(/slower than 5 ms/);
      await eventually(() => liveChildren(process.pid).length === 0, 15_000, "the test runs' processes to be gone");
    }, 90_000);

    it("a value copied to another server's row, or an edited row, fails to decrypt with a clear error", async () => {
      const [vault] = await db("secrets").where({ provider_id: "vault" });
      await db("secrets").insert({ ...vault, provider_id: "other" });
      const copied = await call("GET", "/secrets/other");
      expect(copied).toMatchObject({
        status: 500,
        body: {
          detail:
            "Secret for provider 'other' cannot be decrypted: the stored value does not authenticate (it was altered, or copied from another server)",
        },
      });
      // A start of that server fails the same way instead of running with a wrong value.
      const start = await call("POST", "/servers/other/process/start");
      expect(start.status).toBe(500);
      expect(start.body.detail).toContain("Secret for provider 'other' cannot be decrypted");
      expect((await call("POST", "/secrets/other/test")).status).toBe(500);

      const body = Buffer.from(vault.ciphertext, "base64");
      body[3] ^= 0x20;
      await db("secrets")
        .where({ provider_id: "other" })
        .update({ ciphertext: body.toString("base64") });
      expect((await call("GET", "/secrets/other")).status).toBe(500);
      expect((await call("DELETE", "/secrets/other")).status).toBe(204);
      expect((await call("GET", "/secrets/other")).status).toBe(404);
    }, 60_000);

    it("npm run secrets -- rotate-key re-encrypts every value in one go; the running server keeps reading them", async () => {
      const before = (await db("secrets").select("provider_id", "key_id", "nonce").orderBy("provider_id")) as {
        provider_id: string;
        key_id: string;
        nonce: string;
      }[];
      const keyBefore = fs.readFileSync(env.CONSOLE_MCP_SECRETS_KEY_FILE, "utf8");
      const childEnv: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" };
      for (const name of ["CONSOLE_MCP_DB_URL", "CONSOLE_MCP_SECRETS_KEY_FILE"]) if (env[name] !== undefined) childEnv[name] = env[name];
      if (env.CONSOLE_MCP_DB_URL === undefined) childEnv.CONSOLE_MCP_DB_PATH = path.join(server.dir, "console.db");
      const out = await run(process.execPath, ["--import", "tsx", "bin/secrets.ts", "rotate-key"], { cwd: PROJECT_ROOT, env: childEnv });
      expect(out.stdout).toMatch(
        new RegExp(`^Re-encrypted ${before.length} secrets from key [0-9a-f]{16} to key [0-9a-f]{16}; .*secrets.key holds the new key.\\n$`),
      );
      const after = (await db("secrets").select("provider_id", "key_id", "nonce").orderBy("provider_id")) as typeof before;
      expect(after.map((r) => r.provider_id)).toEqual(before.map((r) => r.provider_id));
      for (let i = 0; i < after.length; i++) {
        expect(after[i].key_id).not.toBe(before[i].key_id);
        expect(after[i].nonce).not.toBe(before[i].nonce);
      }
      expect(fs.readFileSync(env.CONSOLE_MCP_SECRETS_KEY_FILE, "utf8")).not.toBe(keyBefore);
      expect(fs.statSync(env.CONSOLE_MCP_SECRETS_KEY_FILE).mode & 0o777).toBe(0o600);
      // The server met a value under the new key and read the new file.
      expect((await call("GET", "/secrets/vault", undefined, { mayShowValue: true })).body.value).toBe(NEXT);
      expect((await call("GET", "/secrets/locked", undefined, { mayShowValue: true })).body.value).toBe(GOOD);
      const status = await run(process.execPath, ["--import", "tsx", "bin/secrets.ts", "status"], { cwd: PROJECT_ROOT, env: childEnv });
      expect(status.stdout).toContain(`secrets: ${before.length} stored, ${before.length} open with this key`);
      for (const value of ALL) expect(out.stdout + out.stderr + status.stdout + status.stderr).not.toContain(value);
    }, 60_000);

    it("a secret outlives its server's deletion (and is read again when the id comes back)", async () => {
      const created = await call("POST", "/servers", { id: "temp", name: "Temp", command: node, args: [CONFIGURABLE_SERVER] });
      expect(created.status).toBe(201);
      expect((await call("PUT", "/secrets/temp", { value: OTHER }, { mayShowValue: true })).status).toBe(200);
      expect((await call("DELETE", "/servers/temp")).status).toBe(204);
      expect((await call("GET", "/secrets/temp", undefined, { mayShowValue: true })).body.value).toBe(OTHER);
      expect((await call("DELETE", "/secrets/temp")).status).toBe(204);
    }, 60_000);

    it("no value appears in any log line, event, error body or other answer (nor in the SQLite file)", async () => {
      // The audit log (open mode: anyone on loopback may read it) holds the writes, never a value.
      const audit = await call("GET", "/audit/logs?limit=1000");
      expect(audit.body.items.map((e: any) => e.action)).toEqual(
        expect.arrayContaining(["secret.put", "secret.delete", "secret.test", "secret.rotate_key"]),
      );
      // The capture works: the run produced lines at several levels, and events of every kind.
      expect(lines.length).toBeGreaterThan(50);
      expect(lines.some((l) => l.startsWith("debug "))).toBe(true);
      expect(events.some((e) => e.startsWith("secrets.changed "))).toBe(true);
      expect(events.some((e) => e.startsWith("runtime.log.appended "))).toBe(true);
      expect(scanned.length).toBeGreaterThan(20);
      for (const value of ALL) {
        expect(lines.filter((l) => l.includes(value))).toEqual([]);
        expect(events.filter((e) => e.includes(value))).toEqual([]);
        expect(scanned.filter((a) => a.includes(value))).toEqual([]);
      }
      if (env.CONSOLE_MCP_DB_URL === undefined) {
        const dbFile = path.join(server.dir, "console.db");
        const bytes = Buffer.concat([dbFile, `${dbFile}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
        for (const value of ALL) expect(bytes.includes(Buffer.from(value))).toBe(false);
      }
    });
  });
}
