/**
 * Graceful stop of the HTTP listener: stop accepting, finish what was accepted, then let the broker
 * stop. A SIGTERM must not fail a request the gateway already took.
 *
 * - At drain: the listener closes (no new connections), idle keep-alive connections are closed, and
 *   every answer from then on carries `Connection: close`, so keep-alive clients reconnect elsewhere
 *   (another replica behind the load balancer) instead of sending more requests here.
 * - A request already read (or arriving on a connection that was busy at that moment) is answered.
 * - drain() resolves when no request is in flight, or at the deadline, when the remaining
 *   connections are destroyed (the caller logs how many).
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";

export interface DrainResult {
  /** Requests still unanswered at the deadline (0 when every accepted request finished). */
  abandoned: number;
  /** Milliseconds the drain took. */
  tookMs: number;
}

export interface ConnectionDrain {
  /** Requests accepted and not yet answered. */
  inFlight(): number;
  /** True once drain() has been called. */
  draining(): boolean;
  /** Stops accepting and waits for the requests in flight, at most `deadlineMs`. Idempotent. */
  drain(deadlineMs: number): Promise<DrainResult>;
}

/** Tracks the requests of `server` (call before it accepts connections). */
export function trackRequests(server: Server): ConnectionDrain {
  const active = new Set<ServerResponse>();
  let isDraining = false;
  let idleWaiters: (() => void)[] = [];
  let running: Promise<DrainResult> | undefined;

  const finished = (res: ServerResponse) => {
    active.delete(res);
    if (isDraining) server.closeIdleConnections();
    if (active.size === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  // A response emits 'close' once, when its answer is written or its connection is gone. One
  // listener function for every response: no closure per request on the request path.
  function onResponseClose(this: ServerResponse): void {
    finished(this);
  }

  // Registered before the gateway's own handler, so the header is set before any answer is written.
  server.prependListener("request", (_req: IncomingMessage, res: ServerResponse) => {
    active.add(res);
    if (isDraining) res.setHeader("Connection", "close");
    res.on("close", onResponseClose);
  });

  const run = async (deadlineMs: number): Promise<DrainResult> => {
    const startedAt = Date.now();
    isDraining = true;
    // Answers still to be written say goodbye too.
    for (const res of active) if (!res.headersSent) res.setHeader("Connection", "close");
    if (server.listening) server.close();
    server.closeIdleConnections();
    if (active.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const abandoned = active.size;
    server.closeAllConnections();
    return { abandoned, tookMs: Date.now() - startedAt };
  };

  return {
    inFlight: () => active.size,
    draining: () => isDraining,
    drain(deadlineMs: number) {
      running ??= run(deadlineMs);
      return running;
    },
  };
}
