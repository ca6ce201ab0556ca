/**
 * RemoteCallDeadline: a remote call always settles, at the latest shortly after its own timeout.
 *
 * Moleculer's Timeout middleware rejects the caller's promise when a remote call times out, and its
 * ErrorHandler then removes the request from transit's pending list, but nothing ever settles the
 * inner promise that waited for the answer. The ContextTracker middleware wraps that inner promise,
 * so the call's context stays tracked for good: the next graceful stop waits
 * `tracking.shutdownTimeout` (10 s) for it and logs GracefulStopTimeoutError, and every such call
 * stays in memory. Registered as a user middleware, this one sits inside the internal ones (Moleculer
 * adds user middlewares first, so they wrap the handler first) and rejects the inner promise with
 * RequestTimeoutError `graceMs` after the call's timeout when no answer came.
 */
import { Errors } from "moleculer";
import type { Context, Middleware } from "moleculer";

type Handler = (ctx: Context) => Promise<unknown>;

export function RemoteCallDeadline(graceMs = 50): Middleware {
  return {
    name: "RemoteCallDeadline",
    remoteAction(next: Handler): Handler {
      return function remoteCallDeadline(ctx: Context): Promise<unknown> {
        const timeout = ctx.options.timeout;
        const call = next(ctx);
        if (typeof timeout !== "number" || timeout <= 0) return call;
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(
            () => reject(new Errors.RequestTimeoutError({ action: ctx.action?.name ?? "unknown", nodeID: ctx.nodeID ?? "" })),
            timeout + graceMs,
          );
        });
        return Promise.race([call, deadline]).finally(() => clearTimeout(timer));
      };
    },
  } as unknown as Middleware;
}
