/**
 * The event stream's plain modules (runtime-contract §23.1), without a broker or a network: ids,
 * the filter, the ring, the hub (fan-out, resume, reset, slow clients, cap, keep-alive) over
 * in-memory responses, and the broker-event table.
 */
import { formatEventId, newStreamTag, parseEventId } from "../../services/api/events/event-id";
import { DEFAULT_TYPES, matches, parseStreamFilter, resumePoint } from "../../services/api/events/filter";
import { eventFrame } from "../../services/api/events/frame";
import { EventHub, type StreamEvent, type StreamResponse } from "../../services/api/events/hub";
import { EventRing } from "../../services/api/events/ring";
import { STREAM_SOURCES } from "../../services/api/events/sources";
import { eventually } from "../helpers/process-groups";
import { SseReader } from "../helpers/sse";

/** An in-memory response: what is written, and (when `stalled`) unsent bytes piling up. */
class MemoryResponse implements StreamResponse {
  status = 0;
  headers: Record<string, string> = {};
  chunks: Buffer[] = [];
  writableLength = 0;
  writableEnded = false;
  destroyed = false;
  stalled = false;
  private onClose: (() => void)[] = [];

  writeHead(status: number, headers: Record<string, string>) {
    this.status = status;
    this.headers = headers;
  }
  flushHeaders() {}
  write(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    if (this.stalled) this.writableLength += chunk.length;
    return !this.stalled;
  }
  end() {
    this.writableEnded = true;
    this.close();
  }
  destroy() {
    this.destroyed = true;
    this.close();
  }
  once(_event: "close", listener: () => void) {
    this.onClose.push(listener);
  }
  private close() {
    const listeners = this.onClose;
    this.onClose = [];
    for (const l of listeners) l();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
  events() {
    const reader = new SseReader();
    const events = reader.push(this.text()).map((e) => ({ id: e.id, event: e.event, data: JSON.parse(e.data) }));
    return { events, comments: reader.comments };
  }
}

function run(id: number, provider = "a"): StreamEvent {
  return { type: "run", servers: [provider], data: { id, provider_id: provider } };
}
function log(n: number, server = "a"): StreamEvent {
  return { type: "log", servers: [server], data: { server_id: server, entry: { id: String(n) } } };
}
function hub(overrides: Partial<ConstructorParameters<typeof EventHub>[0]> = {}) {
  return new EventHub({ maxClients: 10, keepAliveMs: 60_000, ...overrides });
}
const all = () => parseStreamFilter({});

describe("event ids", () => {
  it("format and parse `<ms>-<seq>-<tag>`; anything else is not an id", () => {
    const tag = newStreamTag();
    expect(tag).toMatch(/^[0-9a-z]{8}$/);
    expect(newStreamTag()).not.toBe(tag);
    const id = formatEventId({ ms: 1718000000123, seq: 42, tag });
    expect(id).toBe(`1718000000123-42-${tag}`);
    expect(parseEventId(id)).toEqual({ ms: 1718000000123, seq: 42, tag });
    for (const bad of [
      "",
      "42",
      "1-2",
      "1-2-ABCDEFGH",
      "1-2-abc",
      "x-2-abcdefgh",
      "1-2-abcdefgh-3",
      `${"9".repeat(16)}-1-abcdefgh`,
      null,
      undefined,
    ]) {
      expect(parseEventId(bad as string)).toBeNull();
    }
  });
});

describe("filter", () => {
  it("defaults to every type but log; run brings runs; server_id and empty values", () => {
    expect([...all().types]).toEqual([...DEFAULT_TYPES]);
    expect(DEFAULT_TYPES).not.toContain("log");
    expect([...parseStreamFilter({ types: "" }).types]).toEqual([...DEFAULT_TYPES]);
    expect([...parseStreamFilter({ types: " run , log,," }).types].sort()).toEqual(["log", "run", "runs"]);
    expect(parseStreamFilter({ server_id: "" }).serverId).toBeNull();
    const f = parseStreamFilter({ types: "process", server_id: "echo" });
    expect(matches(f, "process", ["echo"])).toBe(true);
    expect(matches(f, "process", ["other"])).toBe(false);
    expect(matches(f, "process", null)).toBe(true);
    expect(matches(f, "health", ["echo"])).toBe(false);
    expect(parseStreamFilter({ types: "log,process" }).signature).toBe(parseStreamFilter({ types: "process,log" }).signature);
  });

  it("an unknown type is a 422 naming it", () => {
    expect(() => parseStreamFilter({ types: "process,nope,logs" })).toThrow(expect.objectContaining({ code: 422 }));
    try {
      parseStreamFilter({ types: "process,nope" });
    } catch (err) {
      expect((err as { data: unknown }).data).toEqual([expect.objectContaining({ loc: ["query", "types"], input: "nope", type: "literal_error" })]);
    }
  });

  it("the resume point: Last-Event-ID header first, else last_event_id", () => {
    expect(resumePoint("1-2-abcdefgh", { last_event_id: "x" })).toBe("1-2-abcdefgh");
    expect(resumePoint(undefined, { last_event_id: "x" })).toBe("x");
    expect(resumePoint(" ", { last_event_id: "" })).toBeNull();
  });
});

describe("EventRing", () => {
  it("keeps the newest entries and remembers the newest dropped", () => {
    const ring = new EventRing(3);
    const entry = (seq: number) => ({ seq, ms: 1000 + seq, type: "run" as const, servers: null, frame: Buffer.from(String(seq)) });
    for (let s = 1; s <= 5; s++) ring.push(entry(s));
    expect(ring.size).toBe(3);
    expect(ring.lastDropped()).toEqual({ seq: 2, ms: 1002 });
    expect(ring.afterSeq(3).map((e) => e.seq)).toEqual([4, 5]);
    expect(ring.afterSeq(0).map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(ring.sinceMs(1004).map((e) => e.seq)).toEqual([4, 5]);
    expect(ring.afterSeq(5)).toEqual([]);
  });

  it("keeps its frames within its byte budget, always keeping the newest", () => {
    const ring = new EventRing(10, 100);
    const entry = (seq: number, size: number) => ({ seq, ms: seq, type: "run" as const, servers: null, frame: Buffer.alloc(size) });
    ring.push(entry(1, 40));
    ring.push(entry(2, 40));
    expect(ring.size).toBe(2);
    ring.push(entry(3, 40));
    expect(ring.afterSeq(0).map((e) => e.seq)).toEqual([2, 3]);
    expect(ring.bytes).toBe(80);
    expect(ring.lastDropped()).toEqual({ seq: 1, ms: 1 });
    ring.push(entry(4, 500));
    expect(ring.afterSeq(0).map((e) => e.seq)).toEqual([4]);
    expect(ring.lastDropped()?.seq).toBe(3);
  });
});

describe("EventHub", () => {
  it("sends each event once, framed with increasing ids, the events of one turn in one write", async () => {
    const h = hub();
    const res = new MemoryResponse();
    h.open(res, all(), null);
    expect(res.status).toBe(200);
    expect(res.headers["Content-Type"]).toBe("text/event-stream; charset=utf-8");
    h.publish([run(1), run(2)]);
    h.publish([{ type: "session", servers: ["a"], data: { id: "s" } }]);
    await h.flushed();
    expect(res.chunks).toHaveLength(1);
    const { events } = res.events();
    expect(events.map((e) => e.event)).toEqual(["run", "run", "session"]);
    const seqs = events.map((e) => (parseEventId(e.id) as { seq: number }).seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect(events.every((e) => parseEventId(e.id)?.tag === h.tag)).toBe(true);
  });

  it("filters by type and server", async () => {
    const h = hub();
    const byServer = new MemoryResponse();
    const logsOnly = new MemoryResponse();
    h.open(byServer, parseStreamFilter({ server_id: "b" }), null);
    h.open(logsOnly, parseStreamFilter({ types: "log" }), null);
    h.publish([run(1, "a"), run(2, "b"), log(1, "a"), { type: "runs", servers: null, data: { count: 500 } }]);
    await h.flushed();
    expect(byServer.events().events.map((e) => [e.event, e.data.id ?? e.data.count])).toEqual([
      ["run", 2],
      ["runs", 500],
    ]);
    expect(logsOnly.events().events.map((e) => e.event)).toEqual(["log"]);
  });

  it("resumes after its own id exactly: the events in between, in order, none twice", async () => {
    const h = hub();
    const first = new MemoryResponse();
    h.open(first, all(), null);
    h.publish([run(1), run(2)]);
    await h.flushed();
    const lastSeen = first.events().events[1].id as string;
    h.publish([run(3), log(1), run(4)]);
    await h.flushed();
    const again = new MemoryResponse();
    h.open(again, all(), lastSeen);
    h.publish([run(5)]);
    await h.flushed();
    expect(again.events().events.map((e) => e.data.id)).toEqual([3, 4, 5]);
    const withLogs = new MemoryResponse();
    h.open(withLogs, parseStreamFilter({ types: "run,log" }), lastSeen);
    expect(withLogs.events().events.map((e) => e.event)).toEqual(["run", "log", "run", "run"]);
  });

  it("a client opened while events wait for their flush gets each of them once", async () => {
    const h = hub();
    const early = new MemoryResponse();
    h.open(early, all(), null);
    h.publish([run(1)]);
    await h.flushed();
    h.publish([run(2)]);
    const late = new MemoryResponse();
    h.open(late, all(), early.events().events[0].id);
    h.publish([run(3)]);
    await h.flushed();
    expect(late.events().events.map((e) => e.data.id)).toEqual([2, 3]);
    expect(early.events().events.map((e) => e.data.id)).toEqual([1, 2, 3]);
  });

  it("sends reset first when the point is older than the ring, then what is held; the reset's id resumes exactly", async () => {
    const h = hub({ bufferEvents: 5 });
    const res = new MemoryResponse();
    h.open(res, all(), null);
    h.publish([run(1)]);
    await h.flushed();
    const old = res.events().events[0].id as string;
    for (let i = 2; i <= 8; i++) h.publish([run(i)]);
    await h.flushed();
    const back = new MemoryResponse();
    h.open(back, all(), old);
    const { events } = back.events();
    expect(events[0].event).toBe("reset");
    expect(events.slice(1).map((e) => e.data.id)).toEqual([4, 5, 6, 7, 8]);
    const fromReset = new MemoryResponse();
    h.open(fromReset, all(), events[0].id);
    expect(fromReset.events().events.map((e) => e.data.id)).toEqual([4, 5, 6, 7, 8]);
    // Logs have their own ring: a log flood does not push state events out.
    for (let i = 0; i < 20; i++) h.publish([log(i)]);
    const stateOnly = new MemoryResponse();
    h.open(stateOnly, all(), events[events.length - 1].id);
    expect(stateOnly.events().events).toEqual([]);
    const withLogs = new MemoryResponse();
    h.open(withLogs, parseStreamFilter({ types: "run,log" }), events[events.length - 1].id);
    expect(withLogs.events().events[0].event).toBe("reset");
  });

  it("an id that is not one, or one this gateway never gave, gets reset", () => {
    const h = hub();
    h.publish([run(1)]);
    for (const id of ["garbage", formatEventId({ ms: Date.now(), seq: 99, tag: h.tag })]) {
      const res = new MemoryResponse();
      h.open(res, all(), id);
      expect(res.events().events.map((e) => e.event)).toEqual(["reset", "run"]);
    }
  });

  it("another gateway's id: replays what arrived here since its instant less the overlap", () => {
    let now = 10_000;
    const h = hub({ now: () => now, resumeOverlapMs: 100 });
    for (const [at, id] of [
      [10_000, 1],
      [10_500, 2],
      [10_950, 3],
      [11_200, 4],
    ]) {
      now = at;
      h.publish([run(id)]);
    }
    const res = new MemoryResponse();
    h.open(res, all(), formatEventId({ ms: 11_000, seq: 7, tag: "othergw1" }));
    expect(res.events().events.map((e) => e.data.id)).toEqual([3, 4]);
    // Older than this gateway's start: reset.
    const early = new MemoryResponse();
    h.open(early, all(), formatEventId({ ms: 9_000, seq: 1, tag: "othergw1" }));
    expect(early.events().events[0].event).toBe("reset");
  });

  it("disconnects a client whose unsent data passes the limit; the others keep receiving", async () => {
    const slow: number[] = [];
    const h = hub({ maxUnsentBytes: 4096, onSlowClient: (n) => slow.push(n) });
    const stuck = new MemoryResponse();
    stuck.stalled = true;
    const fast = new MemoryResponse();
    h.open(stuck, all(), null);
    h.open(fast, all(), null);
    for (let i = 1; i <= 50; i++) {
      h.publish([{ type: "run", servers: ["a"], data: { id: i, pad: "x".repeat(200) } }]);
      await h.flushed();
    }
    expect(stuck.destroyed).toBe(true);
    expect(slow).toHaveLength(1);
    expect(slow[0]).toBeGreaterThan(4096);
    expect(h.stats()).toMatchObject({ clients: 1, slowDisconnects: 1 });
    expect(fast.events().events.map((e) => e.data.id)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it("refuses streams beyond the cap with a 503 and writes nothing", () => {
    const h = hub({ maxClients: 2 });
    const a = new MemoryResponse();
    const b = new MemoryResponse();
    h.open(a, all(), null);
    h.open(b, all(), null);
    const c = new MemoryResponse();
    expect(() => h.open(c, all(), null)).toThrow(expect.objectContaining({ code: 503 }));
    expect(c.status).toBe(0);
    a.destroy();
    h.open(c, all(), null);
    expect(h.clientCount).toBe(2);
  });

  it("writes keep-alive comments on its interval and ends every stream at stop", async () => {
    const h = hub({ keepAliveMs: 20 });
    const res = new MemoryResponse();
    h.open(res, all(), null);
    h.start();
    await eventually(() => res.events().comments >= 2, 10_000, "two keep-alive comments");
    expect(res.text()).toContain(": keep-alive\n\n");
    expect(res.events().events).toEqual([]);
    h.stop();
    expect(res.writableEnded).toBe(true);
    expect(h.clientCount).toBe(0);
  });

  it("skips an event whose data cannot be serialised", async () => {
    const h = hub();
    const res = new MemoryResponse();
    h.open(res, all(), null);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    h.publish([{ type: "run", servers: ["a"], data: cyclic }, run(2)]);
    await h.flushed();
    expect(res.events().events.map((e) => e.data.id)).toEqual([2]);
  });

  it("a frame is one data line whatever the text holds", () => {
    const frame = eventFrame("1-1-abcdefgh", "log", { message: "a\nb\r\nc\u2028" }).toString();
    expect(frame.split("\n").filter((l) => l.startsWith("data:"))).toHaveLength(1);
    expect(new SseReader().push(frame)[0]).toEqual({ id: "1-1-abcdefgh", event: "log", data: JSON.stringify({ message: "a\nb\r\nc\u2028" }) });
  });
});

describe("STREAM_SOURCES", () => {
  it("maps each broker event to its stream type and servers", () => {
    expect(STREAM_SOURCES["runtime.process.changed"]({ server_id: "e", status: "running" })).toEqual([
      { type: "process", servers: ["e"], data: { server_id: "e", status: "running" } },
    ]);
    expect(STREAM_SOURCES["sessions.changed"]({ id: "s", provider_id: "p" })[0]).toMatchObject({ type: "session", servers: ["p"] });
    expect(STREAM_SOURCES["servers.changed"]({ action: "created", server: { id: "x" } })[0]).toMatchObject({ type: "servers", servers: ["x"] });
    expect(STREAM_SOURCES["runtime.log.appended"]({ server_id: "e", entry: {} })[0]).toMatchObject({ type: "log", servers: ["e"] });
    expect(STREAM_SOURCES["runtime.health.checked"]({ server_id: "e", check: {} })[0]).toMatchObject({ type: "health", servers: ["e"] });
    expect(
      STREAM_SOURCES["telemetry.runs.recorded"]({
        runs: [
          { id: 1, provider_id: "p" },
          { id: 2, provider_id: "q" },
        ],
      }).map((e) => e.servers),
    ).toEqual([["p"], ["q"]]);
    const summary = { count: 500, providers: [{ provider_id: "p", count: 500 }], provider_count: 1 };
    expect(STREAM_SOURCES["telemetry.runs.recorded"]({ summary })).toEqual([{ type: "runs", servers: ["p"], data: summary }]);
    expect(STREAM_SOURCES["telemetry.runs.recorded"]({ summary: { ...summary, provider_count: 101 } })[0].servers).toBeNull();
  });

  it("turns a payload of another shape into nothing", () => {
    for (const [name, toStream] of Object.entries(STREAM_SOURCES)) {
      for (const bad of [null, 1, "x", [], {}]) expect(toStream(bad)).toEqual([]);
      expect(name).toMatch(/\./);
    }
  });
});
