/**
 * Moleculer's NATS transporter, with a node's death noticed in well under a second instead of at the
 * heartbeat timeout.
 *
 * Moleculer forgets a node killed with SIGKILL only when its heartbeats have been missing for
 * `heartbeatTimeout` seconds: until then the balancer keeps choosing it (moleculer-web sends each
 * call to the node it picked) and a call sent to it waits for the whole request timeout. NATS knows
 * at once: the dead process's TCP connection is closed, and its subscriptions with it. A message
 * published with a reply subject, by a client that announced `no_responders` (nats.js does whenever
 * the server supports headers), is answered by the server with a status-503 message on that reply
 * subject when no subscription matches. This transporter uses that in two ways:
 *
 * - Every request carries the reply subject `<inbox>.r.<context id>`. A 503 there means the target
 *   node's connection is gone: the node is marked disconnected in the registry at once (Moleculer
 *   then rejects every call pending on it with RequestRejectedError, which the retry policy sends to
 *   another node, and stops choosing it), and a request with no target node (a balanced one) is
 *   rejected with ServiceNotAvailableError.
 * - A call already in flight when its node dies gets no answer, ever. So every `probeIntervalMs`, each
 *   node with a call pending since the previous tick gets a probe: an empty message on its own
 *   `<prefix>.ALIVE.<nodeID>` subject (which every node of this transporter subscribes to and ignores),
 *   with the reply subject `<inbox>.a.<nodeID>`. Silence means alive; a 503 means gone, as above.
 *
 * Normal answers still travel on Moleculer's RES subject, so the inbox receives only the server's
 * 503s. The cost on the request path is one reply subject per request.
 *
 * It also publishes a turn's packets together. nats.js buffers what is published and writes it to
 * the socket in a microtask, so packets published in one microtask drain leave in one write; but a
 * gateway publishes each request's REQ from the drain after that request's own socket read, so each
 * REQ got a socket write of its own, nats-server a read and a write per message, and the receiving
 * node a read per message. Here `send` queues the packet and a `setImmediate` (the check phase of the
 * same event-loop turn, after every I/O callback of its poll phase) hands the whole queue to the
 * client in one synchronous loop, so it leaves in one write (more above nats.js's 32 KiB flush
 * threshold). A microtask would not do: it runs at the end of the current callback's drain, which is
 * exactly what nats.js already does. The queue is one FIFO for every packet type, so packets leave in
 * the order they were sent (per subject and overall), and `disconnect` hands it over before nats.js
 * flushes and closes. A packet's promise settles when the client has taken it: rejected with the
 * client's error (payload over the server's max_payload, connection closed), so a REQ that cannot be
 * sent fails its call at once. The ALIVE probes are published directly (their own subjects, from a
 * timer).
 */
import { randomBytes } from "node:crypto";
import { Errors, Transporters } from "moleculer";

interface NatsMsg {
  subject: string;
  headers?: { status?: string };
}

interface NatsClient {
  subscribe(subject: string, opts: { callback: (err: unknown, msg: NatsMsg) => void }): { unsubscribe(): void };
  publish(subject: string, data: Uint8Array, opts?: { reply?: string }): void;
  status(): AsyncIterable<{ type: string; data: unknown }>;
}

interface PendingRequest {
  nodeID?: string | null;
  action?: { name?: string };
  reject(err: unknown): void;
}

interface SendMeta {
  packet?: { type?: string; target?: string | null; payload?: { id?: unknown } };
}

type Logger = { warn(...args: unknown[]): void; info(...args: unknown[]): void; debug(...args: unknown[]): void };

const NatsBase = Transporters.NATS as unknown as new (
  opts: unknown,
) => {
  client: NatsClient | null;
  connected: boolean;
  nodeID: string;
  prefix: string;
  logger: Logger;
  transit: {
    pendingRequests: Map<string, PendingRequest>;
    removePendingRequest(id: string): void;
  };
  broker: { registry: { nodes: { disconnected(nodeID: string, isUnexpected: boolean): void } } };
  connect(): Promise<unknown>;
  onConnected(wasReconnect?: boolean): Promise<unknown>;
  disconnect(): Promise<unknown>;
  send(topic: string, data: Buffer, meta?: SendMeta): Promise<void>;
};

export interface LivenessOptions {
  url: string;
  /** How often calls pending on a node make it probed, in ms (a dead node's calls fail within ~2×). */
  probeIntervalMs?: number;
}

const EMPTY = new Uint8Array(0);
// Its constructor takes no argument (the declarations give it MoleculerRetryableError's).
const BrokerDisconnectedError = Errors.BrokerDisconnectedError as unknown as new () => Error;

/** A packet waiting for the end of this turn (send, publishOutgoing). */
interface Outgoing {
  topic: string;
  data: Buffer;
  /** The no-responders reply subject of a REQ, else undefined. */
  reply: string | undefined;
  resolve(): void;
  reject(err: unknown): void;
}

export class LivenessNatsTransporter extends NatsBase {
  private inbox = "";
  private probeTimer: NodeJS.Timeout | undefined;
  private pendingLastTick = new Set<string>();
  private readonly probeIntervalMs: number;
  /** Packets sent this turn, in order; a setImmediate is pending while it is not empty. */
  private outgoing: Outgoing[] = [];

  constructor(opts: LivenessOptions) {
    const { probeIntervalMs, ...natsOpts } = opts;
    super(natsOpts);
    this.probeIntervalMs = probeIntervalMs ?? 250;
  }

  /** Subscribes the inbox and the ALIVE subject before Moleculer announces this node (INFO). */
  onConnected(wasReconnect?: boolean): Promise<unknown> {
    const client = this.client;
    if (client !== null && this.inbox === "") {
      this.inbox = `_INBOX.${randomBytes(12).toString("hex")}`;
      client.subscribe(`${this.inbox}.>`, { callback: (_err, msg) => this.onNoResponders(msg) });
      client.subscribe(`${this.prefix}.ALIVE.${this.nodeID}`, { callback: () => undefined });
      void this.logConnectionChanges(client);
      this.probeTimer ??= setInterval(() => this.probePendingNodes(), this.probeIntervalMs);
      this.probeTimer.unref();
    }
    return super.onConnected(wasReconnect);
  }

  /** Hands this turn's packets to the client first, so Moleculer's flush-and-close sends them. */
  disconnect(): Promise<unknown> {
    if (this.probeTimer !== undefined) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    this.publishOutgoing();
    return super.disconnect();
  }

  /**
   * Moleculer's transporter `send`: queues `data` (a serialized packet) for `topic` until the end of
   * this event-loop turn (publishOutgoing). A REQ gets the reply subject `<inbox>.r.<request id>`.
   * Resolves once the NATS client has taken the packet; rejects with the client's error (e.g.
   * MAX_PAYLOAD_EXCEEDED, CONNECTION_CLOSED) or BrokerDisconnectedError if the client is gone by then.
   * Without a client at all it resolves and sends nothing, as Moleculer's NATS transporter does.
   */
  send(topic: string, data: Buffer, meta?: SendMeta): Promise<void> {
    if (this.client === null) return Promise.resolve();
    const id = meta?.packet?.payload?.id;
    const reply = this.inbox !== "" && meta?.packet?.type === "REQ" && typeof id === "string" ? `${this.inbox}.r.${id}` : undefined;
    return new Promise<void>((resolve, reject) => {
      if (this.outgoing.push({ topic, data, reply, resolve, reject }) === 1) setImmediate(this.publishOutgoing);
    });
  }

  /** Publishes the queued packets in order, in one synchronous loop (so nats.js writes them together). */
  private readonly publishOutgoing = (): void => {
    const batch = this.outgoing;
    if (batch.length === 0) return;
    this.outgoing = [];
    const client = this.client;
    for (const p of batch) {
      if (client === null) {
        p.reject(new BrokerDisconnectedError());
        continue;
      }
      try {
        client.publish(p.topic, p.data, p.reply === undefined ? undefined : { reply: p.reply });
        p.resolve();
      } catch (err) {
        p.reject(err);
      }
    }
  };

  /** Probes the nodes that have had a call pending for at least one whole tick. */
  private probePendingNodes(): void {
    const pending = this.transit.pendingRequests;
    const nodes = new Set<string>();
    for (const id of this.pendingLastTick) {
      const nodeID = pending.get(id)?.nodeID;
      if (typeof nodeID === "string") nodes.add(nodeID);
    }
    this.pendingLastTick = new Set(pending.keys());
    if (this.client === null) return;
    for (const nodeID of nodes) {
      this.client.publish(`${this.prefix}.ALIVE.${nodeID}`, EMPTY, { reply: `${this.inbox}.a.${nodeID}` });
    }
  }

  private onNoResponders(msg: NatsMsg): void {
    if (msg.headers?.status !== "503") return;
    const rest = msg.subject.slice(this.inbox.length + 1);
    if (rest.startsWith("a.")) {
      this.nodeGone(rest.slice(2));
      return;
    }
    const id = rest.slice(2);
    const request = this.transit.pendingRequests.get(id);
    if (request === undefined) return;
    if (typeof request.nodeID === "string") {
      this.nodeGone(request.nodeID);
      return;
    }
    const action = request.action?.name ?? "unknown";
    this.transit.removePendingRequest(id);
    request.reject(new Errors.ServiceNotAvailableError({ action, nodeID: this.nodeID }));
  }

  /** The node has no NATS connection: Moleculer forgets it now and rejects its pending calls. */
  private nodeGone(nodeID: string): void {
    if (nodeID === this.nodeID) return;
    this.logger.debug(`Node '${nodeID}' has no NATS connection any more.`);
    this.broker.registry.nodes.disconnected(nodeID, true);
  }

  /**
   * An operator must see the broker connection go and come back: warn when lost, info when back.
   * While it is lost, Moleculer is told (`connected`), so a new call fails at once with a retryable
   * BrokerDisconnectedError (503 at the gateway once the retries are spent) instead of being buffered
   * and waiting for its timeout; nats.js restores the subscriptions when the connection is back.
   */
  private async logConnectionChanges(client: NatsClient): Promise<void> {
    try {
      for await (const s of client.status()) {
        if (s.type === "disconnect") {
          this.connected = false;
          this.logger.warn(`NATS connection lost (${String(s.data)}); reconnecting`);
        } else if (s.type === "reconnect") {
          this.connected = true;
          this.logger.info(`NATS connection restored (${String(s.data)})`);
        } else if (s.type === "error") {
          this.logger.warn(`NATS error: ${String(s.data)}`);
        }
      }
    } catch {
      // the status stream ends with the connection
    }
  }
}
