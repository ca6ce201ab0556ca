/**
 * lib/nats-transporter.ts on a real NATS server, with in-process brokers: a turn's packets leave in
 * one socket write and in the order they were sent (small, above nats.js's 32 KiB flush threshold,
 * up to the server's max_payload); a packet or call over max_payload fails alone, at once; a packet sent in the turn
 * the transporter disconnects is still delivered, one sent on a closed connection fails its call;
 * "no responders" and the ALIVE probe still fail calls to a node whose connection is gone, well
 * before the request timeout (which is set longer than the test's own timeout).
 */
import type net from "node:net";
import { Context, ServiceBroker } from "moleculer";
import { connect, NatsConnection } from "nats";
import { LivenessNatsTransporter } from "../../lib/nats-transporter";
import { describeNats, NatsServer, startNats } from "../helpers/nats";
import { waitUntil } from "../helpers/process";

/** Longer than any test here: a call that fails must not fail by timing out. */
const REQUEST_TIMEOUT_MS = 120000;

interface Tx {
  client: { protocol?: { transport?: { socket?: net.Socket } }; close(): Promise<void> } | null;
  send(topic: string, data: Buffer, meta?: unknown): Promise<void>;
  disconnect(): Promise<unknown>;
}

const txOf = (broker: ServiceBroker) => (broker.transit as unknown as { tx: Tx }).tx;

/**
 * Counts the socket writes of a broker's NATS connection that carry `marker`. Reaches into nats.js
 * (2.x: connection.protocol.transport.socket) to watch the real socket; it only counts.
 */
function countWrites(tx: Tx, marker: string): { count(): number; restore(): void } {
  const socket = tx.client?.protocol?.transport?.socket;
  if (socket === undefined || typeof socket.write !== "function") throw new Error("nats.js changed: no protocol.transport.socket");
  const original = socket.write;
  let n = 0;
  socket.write = function (this: net.Socket, chunk: Uint8Array | string, ...rest: unknown[]) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (bytes.includes(marker)) n++;
    return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof socket.write;
  return {
    count: () => n,
    restore: () => {
      socket.write = original;
    },
  };
}

/** A packet body of `size` bytes whose content depends on `seq` (so a mix-up shows). */
function body(seq: number, size: number): Buffer {
  const b = Buffer.alloc(size, seq % 251);
  b.write(`#${seq}#`, 0, "latin1");
  return b;
}

describeNats("the NATS transporter (lib/nats-transporter.ts)", () => {
  let nats: NatsServer;
  let observer: NatsConnection;
  const brokers = new Set<ServiceBroker>();
  const namespace = `nt-${process.pid}`;
  let releaseHanging: () => void = () => undefined;
  const hanging = new Promise<void>((resolve) => (releaseHanging = resolve));
  let hangsStarted = 0;

  /** A started broker; with `echo.echo` (answers its params) and `echo.hang` (answers when the suite ends) unless `caller`. */
  async function startBroker(nodeID: string, opts: { caller?: boolean; probeIntervalMs?: number } = {}): Promise<ServiceBroker> {
    const b = new ServiceBroker({
      namespace,
      nodeID: `${nodeID}-${process.pid}`,
      transporter: new LivenessNatsTransporter({ url: nats.url, probeIntervalMs: opts.probeIntervalMs ?? 100 }) as never,
      logger: false,
      requestTimeout: REQUEST_TIMEOUT_MS,
      heartbeatInterval: 5,
      heartbeatTimeout: 600,
    });
    brokers.add(b);
    if (opts.caller !== true) {
      b.createService({
        name: "echo",
        actions: {
          echo: (ctx: Context<unknown>) => ctx.params,
          hang: () => {
            hangsStarted++;
            return hanging;
          },
        },
      });
    }
    await b.start();
    return b;
  }

  /** Stops a broker (Moleculer logs, and does not throw, a flush that fails on a closed connection). */
  async function stop(b: ServiceBroker): Promise<void> {
    brokers.delete(b);
    await b.stop();
  }

  /** Waits until `caller` reaches `echo.echo` on `server` (it has seen the node's INFO). */
  async function reach(caller: ServiceBroker, server: ServiceBroker): Promise<void> {
    await waitUntil(async () => (await caller.call("echo.echo", { n: 0 }, { nodeID: server.nodeID })) !== undefined, 20000, `${server.nodeID}`);
  }

  /** Collects every message on `subject.>` seen by a separate client, in arrival order. */
  async function observe(subject: string): Promise<{ subject: string; data: Buffer }[]> {
    const seen: { subject: string; data: Buffer }[] = [];
    observer.subscribe(`${subject}.>`, { callback: (_err, msg) => seen.push({ subject: msg.subject, data: Buffer.from(msg.data) }) });
    await observer.flush();
    return seen;
  }

  beforeAll(async () => {
    nats = await startNats();
    observer = await connect({ servers: nats.url });
  }, 30000);

  afterAll(async () => {
    releaseHanging();
    for (const b of [...brokers]) await stop(b);
    await observer?.close();
    await nats?.stop();
  }, 60000);

  it("sends the packets of one turn in one socket write, even from separate microtask drains", async () => {
    const a = await startBroker("writes", { caller: true });
    const tx = txOf(a);
    const subject = `writes-${process.pid}`;
    const seen = await observe(subject);
    const writes = countWrites(tx, subject);
    try {
      const sent: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) {
        sent.push(tx.send(`${subject}.s`, body(i, 16)));
        // Let nats.js's own microtask flush run before the next packet, as between two socket reads.
        for (let k = 0; k < 3; k++) await Promise.resolve();
      }
      await Promise.all(sent);
      await waitUntil(async () => seen.length === 20, 20000, "20 messages");
      expect(writes.count()).toBe(1);
      expect(seen.map((m) => m.data.equals(body(seen.indexOf(m), 16)))).toEqual(seen.map(() => true));
    } finally {
      writes.restore();
    }
  });

  it("keeps the order of many packets of every size, per subject and overall; one over max_payload fails alone", async () => {
    const a = await startBroker("order", { caller: true });
    const tx = txOf(a);
    const subject = `order-${process.pid}`;
    const seen = await observe(subject);
    // Sizes below and above nats.js's 32 KiB flush threshold, and two just under the 1 MiB max_payload.
    const sizes = [0, 10, 700, 5000, 33000, 70000, 200000];
    const expected: { subject: string; data: Buffer }[] = [];
    const sent: Promise<void>[] = [];
    let tooLarge: Promise<void> | undefined;
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let seq = 0; seq < 600; seq++) {
      const size = seq === 300 || seq === 301 ? 1024 * 1024 - 64 : sizes[Math.floor(rand() * sizes.length)];
      const s = `${subject}.${seq % 3}`;
      const data = body(seq, size);
      expected.push({ subject: s, data });
      sent.push(tx.send(s, data));
      if (seq === 450) tooLarge = tx.send(`${subject}.big`, body(seq, 1024 * 1024 + 1));
      // Between packets: nothing, a microtask drain, the next turn, or a timer.
      const r = rand();
      if (r < 0.25) await Promise.resolve();
      else if (r < 0.35) await new Promise((resolve) => setImmediate(resolve));
      else if (r < 0.4) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await expect(tooLarge).rejects.toMatchObject({ code: "MAX_PAYLOAD_EXCEEDED" });
    await Promise.all(sent);
    await waitUntil(async () => seen.length >= expected.length, 60000, `${expected.length} messages`);
    await observer.flush();
    expect(seen.length).toBe(expected.length);
    const mismatch = seen.findIndex((m, i) => m.subject !== expected[i].subject || !m.data.equals(expected[i].data));
    expect(mismatch).toBe(-1);
  }, 120000);

  it("delivers a packet sent in the turn the transporter disconnects", async () => {
    const a = await startBroker("last", { caller: true });
    const tx = txOf(a);
    const subject = `last-${process.pid}`;
    const seen = await observe(subject);
    const sent = tx.send(`${subject}.x`, body(1, 100));
    await tx.disconnect();
    await sent;
    await waitUntil(async () => seen.length === 1, 20000, "the last packet");
    expect(seen[0].data.equals(body(1, 100))).toBe(true);
    await stop(a);
  });

  it("answers calls with large params in one turn; a call over max_payload fails at once, alone", async () => {
    const server = await startBroker("large-server");
    const caller = await startBroker("large-caller", { caller: true });
    await reach(caller, server);
    const target = { nodeID: server.nodeID };
    const sizes = [10, 600 * 1024, 1100 * 1024, 40 * 1024, 10];
    const calls = sizes.map((size, i) => caller.call("echo.echo", { i, s: "x".repeat(size) }, target));
    const results = await Promise.allSettled(calls);
    expect(results[2]).toMatchObject({ status: "rejected", reason: { code: "MAX_PAYLOAD_EXCEEDED" } });
    for (const i of [0, 1, 3, 4]) expect(results[i]).toEqual({ status: "fulfilled", value: { i, s: "x".repeat(sizes[i]) } });
    await stop(caller);
    await stop(server);
  });

  it("fails a call whose request is sent on a closed connection, at once", async () => {
    const server = await startBroker("closed-server");
    const caller = await startBroker("closed-caller", { caller: true });
    await reach(caller, server);
    const call = caller.call("echo.echo", { n: 2 }, { nodeID: server.nodeID });
    void txOf(caller).client?.close();
    // nats.js's error when the packet reaches a closed client, or Moleculer's once it has seen the close.
    await expect(call).rejects.toMatchObject({ code: expect.stringMatching(/^(CONNECTION_CLOSED|BAD_GATEWAY)$/) });
    await stop(caller);
    await stop(server);
  });

  it("fails a call to a node whose NATS connection is gone with the server's no-responders answer", async () => {
    const server = await startBroker("gone-server");
    // No probe: only the no-responders answer can fail the call before its timeout.
    const caller = await startBroker("gone-caller", { caller: true, probeIntervalMs: 3600000 });
    await reach(caller, server);
    await txOf(server).client?.close();
    // The NATS server drops the closed connection's subscriptions when it reads the close; until then
    // a request to the node's subject would still be delivered (and lost). Wait until it answers
    // "no responders" to a plain request on that subject.
    const probe = await connect({ servers: nats.url });
    await waitUntil(
      async () => {
        try {
          await probe.request(`MOL-${namespace}.REQ.${server.nodeID}`, new Uint8Array(), { timeout: 1000 });
          return false;
        } catch (err) {
          return (err as { code?: string }).code === "503";
        }
      },
      20000,
      "the NATS server to drop the closed node's subscriptions",
    );
    await probe.close();
    // The caller's registry still lists the node (no DISCONNECT packet, heartbeats time out in 600 s).
    await expect(caller.call("echo.echo", { n: 2 }, { nodeID: server.nodeID })).rejects.toMatchObject({ name: "RequestRejectedError" });
    // The node is dropped: no endpoint left for echo.echo.
    await expect(caller.call("echo.echo", { n: 3 })).rejects.toMatchObject({ name: expect.stringMatching(/^Service(NotFound|NotAvailable)Error$/) });
    await stop(caller);
    await stop(server);
  });

  it("fails a call in flight on a node whose NATS connection goes, through the ALIVE probe", async () => {
    const server = await startBroker("probe-server");
    const caller = await startBroker("probe-caller", { caller: true });
    await reach(caller, server);
    const inFlight = caller.call("echo.hang", {}, { nodeID: server.nodeID });
    inFlight.catch(() => undefined);
    await waitUntil(async () => hangsStarted === 1, 20000, "the call to reach the server");
    await txOf(server).client?.close();
    await expect(inFlight).rejects.toMatchObject({ name: "RequestRejectedError" });
    await stop(caller);
    await stop(server);
  });
});
