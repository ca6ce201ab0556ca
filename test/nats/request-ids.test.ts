/**
 * A request id on every line of a request, on every node (runtime-contract §27): two brokers over a
 * real NATS server, each with the project's logger (lib/logging/logger.ts, JSON lines kept in
 * memory). A call made with a requestID on one node runs an action on the other that logs the way
 * the services do (lib/logging/request-context.ts: requestFields(ctx), requestLogger) before and
 * after awaits, calls a local action and emits an event; every line it writes there carries that
 * requestID (Moleculer carries it to the nested call and the event), concurrent requests keep their
 * own ids, and a line written outside any request has none.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Context, ServiceBroker } from "moleculer";
import { StructuredLogger } from "../../lib/logging/logger";
import { requestFields, requestLogger } from "../../lib/logging/request-context";
import { describeNats, NatsServer, startNats } from "../helpers/nats";
import { waitUntil } from "../helpers/process";

type Line = Record<string, unknown>;

function memoryBroker(nodeID: string, url: string, raw: string[]): ServiceBroker {
  return new ServiceBroker({
    namespace: `logs-${process.pid}`,
    nodeID,
    transporter: { type: "NATS", options: { url } },
    logger: new StructuredLogger({ level: "info", format: "json", destination: { write: (l: string) => void raw.push(l) } }) as never,
  });
}

describeNats("request ids in the lines of every node (§27)", () => {
  let nats: NatsServer;
  let caller: ServiceBroker;
  let worker: ServiceBroker;
  const callerLines: string[] = [];
  const workerLines: string[] = [];
  const parsed = (raw: string[]): Line[] => raw.map((l) => JSON.parse(l) as Line);

  beforeAll(async () => {
    nats = await startNats();
    caller = memoryBroker(`caller-${process.pid}`, nats.url, callerLines);
    worker = memoryBroker(`worker-${process.pid}`, nats.url, workerLines);
    worker.createService({
      name: "probe",
      actions: {
        async work(this: { logger: ServiceBroker["logger"] }, ctx: Context<{ tag: string; delayMs: number }>) {
          this.logger.info(requestFields(ctx), `start ${ctx.params.tag}`);
          await sleep(ctx.params.delayMs);
          // A logger handed to code that has no context.
          requestLogger(this.logger, ctx).warn(`after await ${ctx.params.tag}`);
          await ctx.call("probe.inner", { tag: ctx.params.tag });
          ctx.emit("probe.done", { tag: ctx.params.tag });
          await sleep(1);
          return ctx.params.tag;
        },
        async inner(this: { logger: ServiceBroker["logger"] }, ctx: Context<{ tag: string }>) {
          await Promise.resolve();
          this.logger.info(requestFields(ctx), `inner ${ctx.params.tag}`);
          return true;
        },
      },
      events: {
        "probe.done"(this: { logger: ServiceBroker["logger"] }, ctx: Context<{ tag: string }>) {
          this.logger.info(requestFields(ctx), `event ${ctx.params.tag}`);
        },
      },
      started(this: { logger: ServiceBroker["logger"] }) {
        this.logger.info("probe started outside any request");
      },
    });
    await Promise.all([caller.start(), worker.start()]);
    await caller.waitForServices("probe", 10000);
  }, 30000);

  afterAll(async () => {
    await Promise.all([caller?.stop(), worker?.stop()]);
    await nats?.stop();
  });

  it("every line the other node writes for a call carries the call's request id, even with concurrent calls", async () => {
    const answers = await Promise.all([
      caller.call("probe.work", { tag: "a", delayMs: 30 }, { requestID: "req-a" }),
      caller.call("probe.work", { tag: "b", delayMs: 5 }, { requestID: "req-b" }),
      caller.call("probe.work", { tag: "c", delayMs: 15 }, { requestID: "req-c" }),
    ]);
    expect(answers).toEqual(["a", "b", "c"]);
    await waitUntil(async () => parsed(workerLines).filter((l) => String(l.msg).startsWith("event ")).length === 3, 5000, "the events' lines");
    const lines = parsed(workerLines).filter((l) => /^(start|after await|inner|event) [abc]$/.test(String(l.msg)));
    expect(lines).toHaveLength(12);
    for (const line of lines) {
      const tag = String(line.msg).slice(-1);
      expect(line).toMatchObject({ request_id: `req-${tag}`, node_id: worker.nodeID, module: "probe" });
    }
    expect(parsed(workerLines).find((l) => l.msg === "probe started outside any request")).not.toHaveProperty("request_id");
    // The caller's node wrote nothing about these requests without their ids either.
    expect(parsed(callerLines).filter((l) => /req-[abc]/.test(JSON.stringify(l)) && !/^req-[abc]$/.test(String(l.request_id)))).toEqual([]);
  });
});
