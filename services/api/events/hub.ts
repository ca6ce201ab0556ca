/**
 * A gateway's event stream (runtime-contract §23.1): the events handed over by the gateway (from
 * broker events, ./sources.ts) go to every connected `GET /events` client whose filter they pass,
 * and into the rings that resumes replay from. Plain code over Node's response objects: no broker.
 *
 * - **Ids** (./event-id.ts): each event gets `<ms>-<seq>-<tag>` when it arrives here: `seq` increases
 *   on this gateway, `ms` is the arrival instant, `tag` names this gateway's run. A resume from one
 *   of this gateway's ids is exact (everything after that seq). A resume from another gateway's id
 *   (that gateway died, the client came here) replays what arrived here from that id's instant less
 *   RESUME_OVERLAP_MS, which covers clock skew and delivery delays between gateways: nothing the
 *   client missed is left out; events it already had from the other gateway within the overlap may
 *   come again (the data of every type carries its own key — process and session states, run ids,
 *   check instants, log entry ids — so a client can drop them).
 * - **Rings** (./ring.ts): the newest BUFFER_EVENTS events, and separately the newest BUFFER_EVENTS
 *   `log` events, so a log flood never pushes state events out (each ring also within
 *   BUFFER_MAX_BYTES). A resume point older than what the
 *   needed rings hold (or than this gateway's start, for another gateway's id), or an id that is not
 *   one, gets `reset` first — with an id from which a later resume is exact — then what is held after
 *   that point.
 * - **Fan-out**: an event is serialised once. Events are sent in flushes: each distinct filter's
 *   bytes are built once and written to each of its clients in one write (one system call per
 *   client and flush: with many clients, the writes are the cost — `npm run bench -- events`). A
 *   flush follows the event at once when the gateway is idle; under load the next flush waits until
 *   as much time has passed since the previous one ended as that flush took (at most
 *   MAX_FLUSH_WAIT_MS), so the events arriving meanwhile share it and fan-out never takes more
 *   than about half of the event loop. A write never waits: a client whose unsent data passes
 *   MAX_UNSENT_BYTES (it reads too slowly, or not at all) is disconnected, and nobody else waits
 *   for it.
 * - **Keep-alive**: one timer writes `: keep-alive` to every client every `keepAliveMs`.
 * - **Cap**: at most `maxClients` streams (503 beyond, before anything is written).
 */
import { ContractError } from "../../../lib/errors";
import { formatEventId, newStreamTag, parseEventId } from "./event-id";
import { type EventType, matches, type StreamFilter } from "./filter";
import { eventFrame, KEEP_ALIVE_FRAME, STREAM_HEADERS } from "./frame";
import { EventRing, type StreamEntry } from "./ring";

/** Events held for resumes, per ring (§23.1: the newest 1,000, and separately 1,000 `log` events). */
export const BUFFER_EVENTS = 1000;
/**
 * Bytes of frames each ring holds at most (the oldest events go first beyond): 1,000 events of usual
 * size take well under 1 MiB; this bounds a gateway's memory when runs carry large metadata.
 */
export const BUFFER_MAX_BYTES = 32 * 1024 * 1024;
/** Unsent bytes after which a client is disconnected (§23.1: 1 MiB). */
export const MAX_UNSENT_BYTES = 1024 * 1024;
/**
 * How far before another gateway's id a resume here starts (ms): the clock difference between two
 * gateways plus the difference in the time an event takes to reach each, with a wide margin (both
 * are milliseconds on a healthy cluster).
 */
export const RESUME_OVERLAP_MS = 2000;
/** The longest a flush waits for the previous one's cost to be paid back (see Fan-out above). */
export const MAX_FLUSH_WAIT_MS = 50;

/** An event handed to the stream: its type, the servers it concerns (null: any), its data object. */
export interface StreamEvent {
  type: Exclude<EventType, "reset">;
  servers: readonly string[] | null;
  data: unknown;
}

/** What the hub uses of a response (Node's ServerResponse has all of it). */
export interface StreamResponse {
  writeHead(status: number, headers: Record<string, string>): unknown;
  flushHeaders(): void;
  write(chunk: Buffer): boolean;
  end(): unknown;
  destroy(): unknown;
  readonly writableLength: number;
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
  once(event: "close", listener: () => void): unknown;
}

export interface EventHubOptions {
  /** CONSOLE_MCP_SSE_MAX_CLIENTS. */
  maxClients: number;
  /** CONSOLE_MCP_SSE_KEEPALIVE_MS. */
  keepAliveMs: number;
  bufferEvents?: number;
  bufferBytes?: number;
  maxUnsentBytes?: number;
  resumeOverlapMs?: number;
  /** The clock (epoch ms). */
  now?: () => number;
  /** This gateway's id tag (a new random one by default). */
  tag?: string;
  /** Called when a slow client is disconnected, with its unsent bytes. */
  onSlowClient?: (unsentBytes: number) => void;
}

interface Client {
  res: StreamResponse;
  filter: StreamFilter;
  /** The seq of the newest event this client was given (or skipped by its filter). */
  sentSeq: number;
  closed: boolean;
}

export interface EventHubStats {
  clients: number;
  /** Events received so far (seq of the newest). */
  events: number;
  held: number;
  heldLogs: number;
  heldBytes: number;
  slowDisconnects: number;
  refused: number;
}

export class EventHub {
  readonly tag: string;
  private readonly clients = new Set<Client>();
  private readonly main: EventRing;
  private readonly logs: EventRing;
  private readonly now: () => number;
  private readonly maxUnsent: number;
  private readonly overlapMs: number;
  private readonly startedAtMs: number;
  private seq = 0;
  private lastMs = 0;
  private pending: StreamEntry[] = [];
  private flushScheduled = false;
  /** When the previous flush started and how long it took, its writes included (performance.now ms). */
  private lastFlushStart = -Infinity;
  private lastFlushCost = 0;
  private flushWaiters: (() => void)[] = [];
  private keepAlive: NodeJS.Timeout | null = null;
  private slowDisconnects = 0;
  private refused = 0;

  constructor(private readonly options: EventHubOptions) {
    this.tag = options.tag ?? newStreamTag();
    this.now = options.now ?? Date.now;
    this.main = new EventRing(options.bufferEvents ?? BUFFER_EVENTS, options.bufferBytes ?? BUFFER_MAX_BYTES);
    this.logs = new EventRing(options.bufferEvents ?? BUFFER_EVENTS, options.bufferBytes ?? BUFFER_MAX_BYTES);
    this.maxUnsent = options.maxUnsentBytes ?? MAX_UNSENT_BYTES;
    this.overlapMs = options.resumeOverlapMs ?? RESUME_OVERLAP_MS;
    this.startedAtMs = this.now();
  }

  /** Starts the keep-alive timer (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.keepAlive !== null) return;
    this.keepAlive = setInterval(() => this.sendKeepAlive(), this.options.keepAliveMs);
    this.keepAlive.unref();
  }

  /** Stops the keep-alive timer and ends every stream. */
  stop(): void {
    if (this.keepAlive !== null) clearInterval(this.keepAlive);
    this.keepAlive = null;
    this.closeAll();
  }

  /** Ends every stream (a draining gateway: the clients reconnect, elsewhere, with their Last-Event-ID). */
  closeAll(): void {
    for (const client of [...this.clients]) {
      this.drop(client);
      try {
        client.res.end();
      } catch {
        client.res.destroy();
      }
    }
  }

  get clientCount(): number {
    return this.clients.size;
  }

  stats(): EventHubStats {
    return {
      clients: this.clients.size,
      events: this.seq,
      held: this.main.size,
      heldLogs: this.logs.size,
      heldBytes: this.main.bytes + this.logs.bytes,
      slowDisconnects: this.slowDisconnects,
      refused: this.refused,
    };
  }

  /**
   * Takes events in: each gets its id and frame, goes into its ring, and is sent to the matching
   * clients with the other events of this turn of the event loop. Never throws for an event whose
   * data cannot be serialised (it is skipped).
   */
  publish(events: readonly StreamEvent[]): void {
    for (const event of events) {
      let frame: Buffer;
      const seq = this.seq + 1;
      const ms = Math.max(this.lastMs, this.now());
      try {
        frame = eventFrame(formatEventId({ ms, seq, tag: this.tag }), event.type, event.data);
      } catch {
        continue;
      }
      this.seq = seq;
      this.lastMs = ms;
      const entry: StreamEntry = { seq, ms, type: event.type, servers: event.servers, frame };
      (event.type === "log" ? this.logs : this.main).push(entry);
      this.pending.push(entry);
    }
    if (this.pending.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      const wait = Math.min(this.lastFlushStart + 2 * this.lastFlushCost - performance.now(), MAX_FLUSH_WAIT_MS);
      if (wait <= 0) setImmediate(() => this.flush());
      else setTimeout(() => this.flush(), wait);
    }
  }

  /** Resolves once every event published so far has been handed to its clients' connections. */
  flushed(): Promise<void> {
    if (!this.flushScheduled) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  /**
   * Opens a stream on `res`: 503 (thrown, nothing written) when `maxClients` streams are open;
   * otherwise writes the 200 headers (`headers` added to the stream's own), the replay for
   * `resumeFrom` (a Last-Event-ID, or null), and from then on every matching event.
   */
  open(res: StreamResponse, filter: StreamFilter, resumeFrom: string | null, headers: Record<string, string> = {}): void {
    if (this.clients.size >= this.options.maxClients) {
      this.refused += 1;
      throw new ContractError(503, `Too many event streams on this gateway (limit ${this.options.maxClients}); retry later or use another gateway`);
    }
    const client: Client = { res, filter, sentSeq: this.seq, closed: false };
    res.writeHead(200, { ...headers, ...STREAM_HEADERS });
    const replay = resumeFrom === null ? [] : this.replayFor(filter, resumeFrom);
    this.clients.add(client);
    res.once("close", () => this.drop(client));
    if (replay.length === 0) {
      res.flushHeaders();
      return;
    }
    this.send(client, replay.length === 1 ? replay[0] : Buffer.concat(replay));
  }

  /** The frames a client resuming from `resumeFrom` gets first (a `reset` frame, when one applies, leads). */
  private replayFor(filter: StreamFilter, resumeFrom: string): Buffer[] {
    const rings = this.ringsFor(filter);
    const position = parseEventId(resumeFrom);
    let held: StreamEntry[] | null = null;
    if (position !== null && position.tag === this.tag) {
      const gone = rings.some((r) => (r.lastDropped()?.seq ?? 0) > position.seq);
      if (!gone && position.seq <= this.seq) held = merge(rings.map((r) => r.afterSeq(position.seq)));
    } else if (position !== null) {
      const from = position.ms - this.overlapMs;
      const gone = from < this.startedAtMs || rings.some((r) => (r.lastDropped()?.ms ?? -Infinity) >= from);
      if (!gone) held = merge(rings.map((r) => r.sinceMs(from)));
    }
    const frames: Buffer[] = [];
    if (held === null) {
      // The point is gone: reset, with the position after which everything is still held here.
      let after = { seq: 0, ms: this.startedAtMs };
      for (const ring of rings) {
        const dropped = ring.lastDropped();
        if (dropped !== null && dropped.seq > after.seq) after = dropped;
      }
      const id = formatEventId({ ...after, tag: this.tag });
      frames.push(eventFrame(id, "reset", { reason: "The resume point is older than the events this gateway holds; reload the state" }));
      held = merge(rings.map((r) => r.afterSeq(after.seq)));
    }
    for (const entry of held) if (matches(filter, entry.type, entry.servers)) frames.push(entry.frame);
    return frames;
  }

  /** The rings a filter reads from: the state events' unless it asks only for logs, the logs' when it asks for them. */
  private ringsFor(filter: StreamFilter): EventRing[] {
    const rings: EventRing[] = [];
    for (const type of filter.types) {
      if (type !== "log" && type !== "reset") {
        rings.push(this.main);
        break;
      }
    }
    if (filter.types.has("log")) rings.push(this.logs);
    return rings;
  }

  /** Sends the pending events: per distinct filter one buffer, one write per client. */
  private flush(): void {
    this.flushScheduled = false;
    const entries = this.pending;
    this.pending = [];
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const resolve of waiters) resolve();
    if (entries.length === 0) return;
    const started = performance.now();
    this.lastFlushStart = started;
    // Node writes a response's chunks in a process.nextTick queued by its first write; this tick,
    // queued after all of them, sees the writes done.
    process.nextTick(() => {
      this.lastFlushCost = performance.now() - started;
    });
    const first = entries[0].seq;
    const last = entries[entries.length - 1].seq;
    const byFilter = new Map<string, Buffer | null>();
    for (const client of this.clients) {
      if (client.sentSeq >= last) continue;
      let bytes: Buffer | null | undefined;
      if (client.sentSeq < first) {
        bytes = byFilter.get(client.filter.signature);
        if (bytes === undefined) {
          bytes = framesFor(entries, client.filter);
          byFilter.set(client.filter.signature, bytes);
        }
      } else {
        // Opened during this turn: its replay already holds the events up to its sentSeq.
        const after = client.sentSeq;
        bytes = framesFor(
          entries.filter((e) => e.seq > after),
          client.filter,
        );
      }
      client.sentSeq = last;
      if (bytes !== null) this.send(client, bytes);
    }
  }

  private sendKeepAlive(): void {
    for (const client of this.clients) this.send(client, KEEP_ALIVE_FRAME);
  }

  /** Writes to a client; one whose unsent data now passes the limit is disconnected. */
  private send(client: Client, bytes: Buffer): void {
    if (client.closed) return;
    const res = client.res;
    if (res.destroyed || res.writableEnded) {
      this.drop(client);
      return;
    }
    try {
      res.write(bytes);
    } catch {
      this.drop(client);
      res.destroy();
      return;
    }
    const unsent = res.writableLength;
    if (unsent > this.maxUnsent) {
      this.slowDisconnects += 1;
      this.drop(client);
      res.destroy();
      this.options.onSlowClient?.(unsent);
    }
  }

  private drop(client: Client): void {
    client.closed = true;
    this.clients.delete(client);
  }
}

/** The frames of `entries` that pass `filter`, as one buffer (null when none does). */
function framesFor(entries: readonly StreamEntry[], filter: StreamFilter): Buffer | null {
  const frames: Buffer[] = [];
  for (const entry of entries) if (matches(filter, entry.type, entry.servers)) frames.push(entry.frame);
  if (frames.length === 0) return null;
  return frames.length === 1 ? frames[0] : Buffer.concat(frames);
}

/** Entries of several rings in seq order (each list is already in seq order). */
function merge(lists: StreamEntry[][]): StreamEntry[] {
  const nonEmpty = lists.filter((l) => l.length > 0);
  if (nonEmpty.length <= 1) return nonEmpty[0] ?? [];
  return nonEmpty.flat().sort((a, b) => a.seq - b.seq);
}
