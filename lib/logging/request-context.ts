/**
 * The request a log line belongs to (runtime-contract §27: a request id on every line of a request).
 * A broker middleware runs each local action handler (and event handler) inside an
 * AsyncLocalStorage scope holding its context's `requestID` — the gateway's X-Request-ID, carried
 * by Moleculer to every node that handles a part of the request — and the logger
 * (lib/logging/logger.ts) adds it to every line written while that scope lasts, whatever logger
 * the line was written with (a service's, the broker's, a module's).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Context, Middleware } from "moleculer";

const scope = new AsyncLocalStorage<string>();

/** The request id of the action or event handler running now, or undefined outside any. */
export function currentRequestId(): string | undefined {
  return scope.getStore();
}

/** Runs `fn` with `requestId` as the current request id (for code that runs outside an action). */
export function withRequestId<T>(requestId: string, fn: () => T): T {
  return scope.run(requestId, fn);
}

type Handler = (ctx: Context) => unknown;

function scoped(handler: Handler): Handler {
  return function inRequestScope(ctx: Context) {
    const id = ctx.requestID;
    // Already in this request's scope (a local call from its own handler): nothing to enter.
    if (id === null || id === undefined || scope.getStore() === id) return handler(ctx);
    return scope.run(id, handler, ctx);
  };
}

/**
 * The broker middleware entering the scope: each local action and event handler runs with its
 * context's requestID as the current request id. Calls without a requestID run unscoped.
 */
export function RequestScope(): Middleware {
  return {
    name: "RequestScope",
    localAction: scoped,
    localEvent: scoped,
  } as unknown as Middleware;
}
