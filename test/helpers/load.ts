/**
 * Load for the chaos tests and the failover benchmark: node:http requests on keep-alive agents, an
 * open-loop generator at a fixed rate and closed-loop clients, with every outcome classified.
 *
 * A request's outcome is its status, or the error it met. Two errors mean the server never took the
 * request: `ECONNREFUSED` (the listener is closed) and a reset of a reused keep-alive socket before
 * any byte of an answer (Node's documented keep-alive race: the server closed an idle connection
 * while the request was on its way; `req.reusedSocket`). Anything else is a failed request.
 */
import http from "node:http";

export interface Outcome {
  /** HTTP status, or 0 when the request failed. */
  status: number;
  /** Milliseconds from send to the end of the answer (or to the error). */
  ms: number;
  /** Error code or message, when status is 0. */
  error?: string;
  /** True when the error proves the server never accepted the request. */
  notAccepted?: boolean;
  /**
   * A reset, with no byte of an answer, of a connection opened for this request: either the server
   * cut a request it had read, or the connection sat in the kernel's accept queue when the listener
   * closed (the server never saw it). Only the server can tell which (its drain log).
   */
  newConnectionReset?: boolean;
  /** Milliseconds since the load began, at send. */
  at: number;
  /** The call's tag, when it had one. */
  tag?: string;
}

export interface Call {
  method: "GET" | "POST";
  url: string;
  json?: unknown;
  /** A label copied to the outcome (e.g. the kind of call, for figures per kind). */
  tag?: string;
}

/** One request; never rejects. */
export function send(agent: http.Agent, call: Call, origin: number, timeoutMs = 30000): Promise<Outcome> {
  const started = performance.now();
  const at = started - origin;
  const tag = call.tag;
  return new Promise((resolve) => {
    const body = call.json === undefined ? undefined : Buffer.from(JSON.stringify(call.json));
    const req = http.request(call.url, {
      method: call.method,
      agent,
      headers: body === undefined ? {} : { "content-type": "application/json", "content-length": body.length },
      timeout: timeoutMs,
    });
    let gotResponse = false;
    const fail = (err: Error & { code?: string }) => {
      const code = err.code ?? err.message;
      const notAccepted = code === "ECONNREFUSED" || (!gotResponse && req.reusedSocket && (code === "ECONNRESET" || code === "EPIPE"));
      const newConnectionReset = !gotResponse && !req.reusedSocket && (code === "ECONNRESET" || code === "EPIPE");
      resolve({ status: 0, ms: performance.now() - started, error: code, notAccepted, newConnectionReset, at, tag });
    };
    req.on("timeout", () => req.destroy(Object.assign(new Error("client timeout"), { code: "CLIENT_TIMEOUT" })));
    req.on("error", fail);
    req.on("response", (res) => {
      gotResponse = true;
      res.on("data", () => undefined);
      res.on("error", fail);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, at, tag }));
    });
    req.end(body);
  });
}

/** Sends `rate` requests per second for `durationMs`, whatever the answers take (open loop). */
export async function openLoop(
  rate: number,
  durationMs: number,
  next: (i: number) => Call,
  events: { at: number; run: () => void }[] = [],
): Promise<Outcome[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const origin = performance.now();
  const pending: Promise<Outcome>[] = [];
  const total = Math.round((rate * durationMs) / 1000);
  const todo = [...events].sort((a, b) => a.at - b.at);
  for (let i = 0; i < total; i++) {
    const due = (i * 1000) / rate;
    const wait = due - (performance.now() - origin);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    while (todo.length > 0 && todo[0].at <= performance.now() - origin) todo.shift()!.run();
    pending.push(send(agent, next(i), origin));
  }
  const outcomes = await Promise.all(pending);
  agent.destroy();
  return outcomes;
}

/** `clients` callers, each sending its next request when the previous one is answered, until stop(). */
export function closedLoop(
  clients: number,
  next: (client: number, i: number) => Call,
): {
  stop(): Promise<Outcome[]>;
  outcomes: Outcome[];
} {
  const origin = performance.now();
  const outcomes: Outcome[] = [];
  let stopped = false;
  const loops = Array.from({ length: clients }, async (_, c) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; !stopped; i++) {
      const o = await send(agent, next(c, i), origin);
      outcomes.push(o);
      // A closed listener answers at once; do not spin on it.
      if (o.error === "ECONNREFUSED") break;
    }
    agent.destroy();
  });
  return {
    outcomes,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

/** The q-quantile (0..1) of the values, by the nearest-rank rule; NaN for none. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Counts by status (and by error code for failures) for an assertion message. */
export function summarize(outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const key = o.status === 0 ? `error ${o.error}${o.notAccepted ? " (not accepted)" : ""}` : String(o.status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
