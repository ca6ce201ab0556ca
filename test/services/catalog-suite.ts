/**
 * The server catalog (runtime-contract §17) in the providers service, in-process brokers on a real
 * store: the manifest written into the catalog at start and on every file change, servers created,
 * changed and deleted through the actions, the `servers.changed` / `providers.changed` events, the
 * catalog order, restarts, and two replicas starting and syncing together on one store. Shared by
 * SQLite (test/services) and PostgreSQL (test/pg).
 */
import fs from "node:fs";
import path from "node:path";
import type { ServiceBroker } from "moleculer";
import { loadConfig, PROJECT_ROOT } from "../../lib/config";
import { createBroker } from "../../lib/server";
import { tempDir } from "../helpers/server";

/** A fresh, empty store: the variables that select it, and how to remove it. */
export type StoreFactory = (dir: string) => Promise<{ env: Record<string, string>; drop(): Promise<void> }>;

interface ChangedEvent {
  action: "created" | "updated" | "deleted";
  server: Record<string, unknown> & { id: string; created_at: string; updated_at: string };
}

interface Node {
  broker: ServiceBroker;
  servers: ChangedEvent[];
  providers: { ids: string[] }[];
}

type Entry = Record<string, unknown>;

const MANIFEST: Entry[] = [
  { id: "alpha", name: "Alpha", command: "alpha-mcp", tags: ["a"], lane: "turbo" },
  { id: "beta", name: "Beta", command: "npx", args: ["-y", "beta-mcp"], env: { TOKEN_FILE: "${HOME}/.beta" }, autostart: true, restart: "always" },
  { id: "gamma", name: "Gamma", command: "gamma-mcp --stdio", description: "third" },
];

async function waitFor<T>(what: string, poll: () => T | undefined | Promise<T | undefined>, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await poll();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type CallError = { code: number; message: string; type: string; data?: { type: string; loc: unknown[]; msg: string }[] };

async function failure(p: Promise<unknown>): Promise<CallError> {
  try {
    await p;
  } catch (err) {
    return err as CallError;
  }
  throw new Error("the call succeeded");
}

export function catalogServicesSuite(title: string, newStore: StoreFactory): void {
  describe(`server catalog in the providers service (${title})`, () => {
    let dir: string;
    let manifestPath: string;
    let store: Awaited<ReturnType<StoreFactory>>;
    const nodes: Node[] = [];

    function writeManifest(entries: Entry[]): void {
      // A new size or mtime is what the watcher notices; the padding keeps every rewrite's size distinct.
      const pad = " ".repeat(nodes.length + Math.floor(Math.random() * 50));
      fs.writeFileSync(manifestPath, JSON.stringify({ providers: entries }) + pad);
    }

    function newNode(): Node {
      const config = loadConfig(
        { SERVICES: "providers", CONSOLE_MCP_SERVERS_PATH: manifestPath, CONSOLE_MCP_SEED: "none", LOG_LEVEL: "fatal", ...store.env },
        "development",
      );
      const broker = createBroker(config, { logger: false });
      const node: Node = { broker, servers: [], providers: [] };
      broker.createService({
        name: "catalog-listener",
        events: {
          "servers.changed"(ctx: { params: ChangedEvent }) {
            node.servers.push(ctx.params);
          },
          "providers.changed"(ctx: { params: { ids: string[] } }) {
            node.providers.push(ctx.params);
          },
        },
      });
      nodes.push(node);
      return node;
    }

    const ids = async (node: Node) => (await node.broker.call<{ servers: { id: string }[] }>("providers.servers")).servers.map((s) => s.id);

    beforeAll(async () => {
      dir = tempDir();
      manifestPath = path.join(dir, "servers.json");
      store = await newStore(dir);
    });

    afterAll(async () => {
      for (const n of nodes) await n.broker.stop().catch(() => undefined);
      await store.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    describe("one replica", () => {
      let node: Node;
      let startedAt: number;

      beforeAll(async () => {
        writeManifest(MANIFEST);
        node = newNode();
        startedAt = Date.now();
        await node.broker.start();
      });

      afterAll(async () => {
        await node.broker.stop();
      });

      it("start: every manifest entry in the catalog, file order, source manifest, one instant, one created event each", async () => {
        const { servers } = await node.broker.call<{ servers: Entry[] }>("providers.servers");
        expect(servers.map((s) => s.id)).toEqual(["alpha", "beta", "gamma"]);
        expect(new Set(servers.flatMap((s) => [s.created_at, s.updated_at])).size).toBe(1);
        expect(Date.parse(servers[0].created_at as string)).toBeGreaterThanOrEqual(startedAt - 1000);
        expect(servers[1]).toEqual({
          id: "beta",
          name: "Beta",
          command: "npx",
          description: "",
          tags: [],
          capabilities: [],
          transport: "stdio",
          args: ["-y", "beta-mcp"],
          env: { TOKEN_FILE: "${HOME}/.beta" },
          cwd: PROJECT_ROOT,
          autostart: true,
          startup_timeout_s: 30,
          secret_env: "BETA_API_KEY",
          restart: "always",
          max_restarts: 5,
          degraded_latency_ms: 1000,
          tool_timeout_s: 60,
          source: "manifest",
          created_at: servers[0].created_at,
          updated_at: servers[0].created_at,
        });
        expect(node.servers.map((e) => [e.action, e.server.id])).toEqual([
          ["created", "alpha"],
          ["created", "beta"],
          ["created", "gamma"],
        ]);
        expect(node.servers[1].server).toEqual(servers[1]);
        expect(node.providers).toEqual([{ ids: ["alpha", "beta", "gamma"] }]);
        // The other views read the same catalog.
        expect((await node.broker.call<{ providers: Entry[] }>("providers.catalog")).providers.map((p) => p.id)).toEqual(["alpha", "beta", "gamma"]);
        expect(await node.broker.call("providers.get", { id: "alpha" })).toMatchObject({ lane: "turbo", declared_lane: "turbo" });
        expect(await node.broker.call("providers.server", { id: "gamma" })).toEqual(servers[2]);
      });

      it("createServer: the new Server after the manifest's, created event, providers.changed", async () => {
        node.servers.length = 0;
        node.providers.length = 0;
        const before = Date.now();
        const made = await node.broker.call<Entry, Entry>("providers.createServer", {
          id: "mine",
          name: "  Mine  ",
          command: "mine-mcp",
          tags: ["x"],
          env: { B: "2", A: "1" },
          max_restarts: 0,
          source: "manifest",
        });
        expect(made).toMatchObject({
          id: "mine",
          name: "Mine",
          command: "mine-mcp",
          tags: ["x"],
          env: { A: "1", B: "2" },
          max_restarts: 0,
          source: "api",
          args: [],
          secret_env: "MINE_API_KEY",
          cwd: PROJECT_ROOT,
        });
        expect(made.created_at).toBe(made.updated_at);
        expect(Date.parse(made.created_at as string)).toBeGreaterThanOrEqual(before - 1);
        expect(await ids(node)).toEqual(["alpha", "beta", "gamma", "mine"]);
        expect(node.servers).toEqual([{ action: "created", server: made }]);
        expect(node.providers).toEqual([{ ids: ["alpha", "beta", "gamma", "mine"] }]);
        // It is a provider like the manifest's: profile with a hashed lane, summary, session target.
        expect(await node.broker.call("providers.get", { id: "mine" })).toMatchObject({ id: "mine", declared_lane: null, summary: { name: "Mine" } });
      });

      it("API servers follow in creation order, whatever their ids", async () => {
        await node.broker.call("providers.createServer", { id: "aaa", name: "A", command: "a" });
        await node.broker.call("providers.createServer", { id: "Zed", name: "Z", command: "z" });
        expect(await ids(node)).toEqual(["alpha", "beta", "gamma", "mine", "aaa", "Zed"]);
      });

      it("createServer refuses an existing id (manifest or API) with 409, and bad fields with 422 before that", async () => {
        for (const id of ["alpha", "mine"]) {
          expect(await failure(node.broker.call("providers.createServer", { id, name: "X", command: "x" }))).toMatchObject({
            code: 409,
            type: "CONTRACT_ERROR",
            message: `Server '${id}' already exists`,
          });
        }
        const bad = await failure(node.broker.call("providers.createServer", { id: "alpha", name: "X", command: "x", transport: "http" }));
        expect(bad.code).toBe(422);
        expect(bad.data).toEqual([expect.objectContaining({ loc: ["body", "transport"], msg: "only stdio is supported" })]);
        expect(await ids(node)).toEqual(["alpha", "beta", "gamma", "mine", "aaa", "Zed"]);
      });

      it("updateServer: given fields replace, omitted keep, null resets; updated_at moves, created_at stays; one updated event", async () => {
        const before = await node.broker.call<Entry, Entry>("providers.server", { id: "mine" });
        node.servers.length = 0;
        await new Promise((r) => setTimeout(r, 5));
        const updated = await node.broker.call<Entry, Entry>("providers.updateServer", {
          id: "mine",
          name: "Mine 2",
          command: "mine-mcp --v2",
          description: "d",
          tags: ["y"],
          capabilities: ["chat"],
          transport: "stdio",
          max_restarts: null,
        });
        expect(updated).toMatchObject({
          id: "mine",
          name: "Mine 2",
          command: "mine-mcp --v2",
          description: "d",
          tags: ["y"],
          capabilities: ["chat"],
          env: { A: "1", B: "2" },
          max_restarts: 5,
          source: "api",
          created_at: before.created_at,
        });
        expect(Date.parse(updated.updated_at as string)).toBeGreaterThan(Date.parse(before.updated_at as string));
        expect(await node.broker.call("providers.server", { id: "mine" })).toEqual(updated);
        expect(node.servers).toEqual([{ action: "updated", server: updated }]);
        expect(await ids(node)).toEqual(["alpha", "beta", "gamma", "mine", "aaa", "Zed"]);
      });

      it("updateServer with nothing new changes nothing: same record, no event", async () => {
        const before = await node.broker.call<Entry, Entry>("providers.server", { id: "mine" });
        node.servers.length = 0;
        node.providers.length = 0;
        expect(await node.broker.call("providers.updateServer", { id: "mine", name: "Mine 2" })).toEqual(before);
        expect(await node.broker.call("providers.updateServer", { id: "mine" })).toEqual(before);
        expect(node.servers).toEqual([]);
        expect(node.providers).toEqual([]);
      });

      it("updateServer: 422 (null name, bad field) before 404 and 409; the manifest's servers are the file's", async () => {
        expect(await failure(node.broker.call("providers.updateServer", { id: "nope", name: null }))).toMatchObject({ code: 422 });
        expect(await failure(node.broker.call("providers.updateServer", { id: "alpha", restart: "x" }))).toMatchObject({ code: 422 });
        expect(await failure(node.broker.call("providers.updateServer", { id: "nope", name: "N" }))).toMatchObject({
          code: 404,
          message: "Server 'nope' not found",
        });
        expect(await failure(node.broker.call("providers.updateServer", { id: "alpha", name: "N" }))).toMatchObject({
          code: 409,
          message: "Server 'alpha' is defined in the manifest file; change the file instead",
        });
        expect((await node.broker.call<Entry, Entry>("providers.server", { id: "alpha" })).name).toBe("Alpha");
      });

      it("deleteServer: gone from every view, one deleted event with the record as it was; 404 and 409", async () => {
        const before = await node.broker.call<Entry, Entry>("providers.server", { id: "aaa" });
        node.servers.length = 0;
        node.providers.length = 0;
        expect(await node.broker.call("providers.deleteServer", { id: "aaa" })).toBeNull();
        expect(await ids(node)).toEqual(["alpha", "beta", "gamma", "mine", "Zed"]);
        expect(node.servers).toEqual([{ action: "deleted", server: before }]);
        expect(node.providers).toEqual([{ ids: ["alpha", "beta", "gamma", "mine", "Zed"] }]);
        expect(await failure(node.broker.call("providers.server", { id: "aaa" }))).toMatchObject({ code: 404, message: "Server 'aaa' not found" });
        expect(await failure(node.broker.call("providers.get", { id: "aaa" }))).toMatchObject({ code: 404, message: "Provider 'aaa' not found" });
        expect(await failure(node.broker.call("providers.deleteServer", { id: "aaa" }))).toMatchObject({
          code: 404,
          message: "Server 'aaa' not found",
        });
        expect(await failure(node.broker.call("providers.deleteServer", { id: "beta" }))).toMatchObject({
          code: 409,
          message: "Server 'beta' is defined in the manifest file; change the file instead",
        });
        expect(await failure(node.broker.call("providers.deleteServer", { id: "a\u0000b" }))).toMatchObject({ code: 404 });
      });

      it("a file change while running: added, changed, moved, removed entries, and an API id taken over; API servers kept", async () => {
        const before = new Map((await node.broker.call<{ servers: Entry[] }>("providers.servers")).servers.map((s) => [s.id, s]));
        node.servers.length = 0;
        node.providers.length = 0;
        writeManifest([
          { ...MANIFEST[2], description: "changed" }, // gamma: changed and moved first
          MANIFEST[0], // alpha: moved only
          { id: "delta", name: "Delta", command: "delta" }, // new
          { id: "Zed", name: "Zed from the file", command: "zed" }, // takes the API server over
          // beta removed
        ]);
        await waitFor("the manifest change", () => (node.providers.length > 0 ? true : undefined));
        const { servers } = await node.broker.call<{ servers: Entry[] }>("providers.servers");
        expect(servers.map((s) => [s.id, s.source])).toEqual([
          ["gamma", "manifest"],
          ["alpha", "manifest"],
          ["delta", "manifest"],
          ["Zed", "manifest"],
          ["mine", "api"],
        ]);
        const byId = new Map(servers.map((s) => [s.id, s]));
        expect(byId.get("alpha")).toEqual(before.get("alpha"));
        expect(byId.get("mine")).toEqual(before.get("mine"));
        expect(byId.get("gamma")).toMatchObject({ description: "changed", created_at: before.get("gamma")?.created_at });
        expect(byId.get("gamma")?.updated_at).not.toBe(before.get("gamma")?.updated_at);
        expect(byId.get("delta")?.created_at).toBe(byId.get("gamma")?.updated_at);
        expect(byId.get("Zed")).toMatchObject({ name: "Zed from the file", created_at: before.get("Zed")?.created_at });
        expect(node.servers.map((e) => [e.action, e.server.id]).sort()).toEqual(
          [
            ["created", "delta"],
            ["deleted", "beta"],
            ["updated", "Zed"],
            ["updated", "gamma"],
          ].sort(),
        );
        expect(node.servers.find((e) => e.action === "deleted")?.server).toEqual(before.get("beta"));
        expect(node.providers).toEqual([{ ids: ["gamma", "alpha", "delta", "Zed", "mine"] }]);
        expect(await failure(node.broker.call("providers.get", { id: "beta" }))).toMatchObject({ code: 404 });
      });

      it("an invalid rewrite is ignored (the catalog stays); the next valid one is written", async () => {
        const before = await node.broker.call("providers.servers");
        node.servers.length = 0;
        node.providers.length = 0;
        writeManifest([{ id: "x", name: "X", command: "x", startup_timeout_s: 0 }]);
        fs.appendFileSync(manifestPath, " ");
        // Two polls of the file and of the catalog later nothing has moved.
        await new Promise((r) => setTimeout(r, 2500));
        expect(await node.broker.call("providers.servers")).toEqual(before);
        expect(node.servers).toEqual([]);
        writeManifest([MANIFEST[0]]);
        await waitFor("the valid rewrite", () => (node.providers.length > 0 ? true : undefined));
        expect(await ids(node)).toEqual(["alpha", "mine"]);
      });
    });

    describe("restart and replicas", () => {
      it("a restarted replica finds the same catalog: API servers and the manifest's instants kept, no event", async () => {
        const first = newNode();
        await first.broker.start();
        const before = await first.broker.call("providers.servers");
        await first.broker.stop();
        const again = newNode();
        await again.broker.start();
        expect(await again.broker.call("providers.servers")).toEqual(before);
        expect(again.servers).toEqual([]);
        await again.broker.stop();
      });

      it("two replicas starting together on one store: no duplicate, no error, one created event per new entry between them", async () => {
        writeManifest([MANIFEST[0], MANIFEST[1], { id: "epsilon", name: "E", command: "e" }, { id: "zeta", name: "Z", command: "z" }]);
        const a = newNode();
        const b = newNode();
        await Promise.all([a.broker.start(), b.broker.start()]);
        const expected = ["alpha", "beta", "epsilon", "zeta", "mine"];
        expect(await ids(a)).toEqual(expected);
        expect(await ids(b)).toEqual(expected);
        expect(await a.broker.call("providers.servers")).toEqual(await b.broker.call("providers.servers"));
        const created = [...a.servers, ...b.servers]
          .filter((e) => e.action === "created")
          .map((e) => e.server.id)
          .sort();
        expect(created).toEqual(["beta", "epsilon", "zeta"]);

        // Both watch the file and write the same change at once: it is applied once.
        for (const n of [a, b]) {
          n.servers.length = 0;
          n.providers.length = 0;
        }
        writeManifest([MANIFEST[1], MANIFEST[0], { id: "eta", name: "H", command: "h" }]);
        await waitFor("both replicas", async () => ((await ids(a)).includes("eta") && (await ids(b)).includes("eta") ? true : undefined));
        const events = [...a.servers, ...b.servers].map((e) => [e.action, e.server.id]).sort();
        expect(events).toEqual([
          ["created", "eta"],
          ["deleted", "epsilon"],
          ["deleted", "zeta"],
        ]);
        expect(await a.broker.call("providers.servers")).toEqual(await b.broker.call("providers.servers"));
        expect(await ids(a)).toEqual(["beta", "alpha", "eta", "mine"]);

        // A write through one replica is seen by the other within its poll (no transporter links them here).
        await a.broker.call("providers.createServer", { id: "from-a", name: "A", command: "a" });
        await waitFor("replica b to catch up", async () => ((await ids(b)).includes("from-a") ? true : undefined));
        expect(b.providers.length).toBeGreaterThan(0);
        await Promise.all([a.broker.stop(), b.broker.stop()]);
      }, 60000);
    });
  });
}
