/**
 * CallCounts: counts the broker calls this node's actions handle, by action and outcome
 * (`console_mcp_broker_calls_total{action, outcome="ok"|"error"}`, runtime-contract §27). A call
 * from any node — the gateway's, a service's, a REPL's — is counted once, by the node that runs it,
 * so the cluster's families together count every call once.
 *
 * Moleculer's own metrics (`metrics: { enabled: true }`) would count these too, with four labelled
 * metric updates, a timer and two closures per call; this adds one Promise per call: the series
 * and the two callbacks are made once per action, when the action is registered. The action label
 * takes the registered actions' names (a fixed set: the code's actions and Moleculer's `$node.*`).
 */
import type { Context, Middleware, ServiceBroker } from "moleculer";
import type { CounterFamily, CounterSeries } from "../metrics/families";
import { nodeMetrics } from "../metrics/node-metrics";

type Handler = (ctx: Context) => Promise<unknown>;

/** The family's name (tests and the README read it). */
export const BROKER_CALLS = "console_mcp_broker_calls_total";

/**
 * The middleware (one per broker: its `created` hook finds the broker's families). Each local action
 * is wrapped once, when registered; a call then costs one `.then` and a prom-client `inc` on a kept child.
 */
export function CallCounts(): Middleware {
  let family: CounterFamily | null = null;
  return {
    name: "CallCounts",
    created(broker: ServiceBroker) {
      family = nodeMetrics(broker).counter(BROKER_CALLS, "Broker calls this node's actions handled, by action and outcome", ["action", "outcome"]);
    },
    localAction(next: Handler, action: { name: string }): Handler {
      const calls = family;
      if (calls === null) return next;
      // The series appear with the first call of each outcome (no zero series for every action).
      let ok: CounterSeries | null = null;
      let failed: CounterSeries | null = null;
      const onOk = (result: unknown): unknown => {
        if (ok === null) ok = calls.child([action.name, "ok"]);
        ok.inc();
        return result;
      };
      const onError = (err: unknown): never => {
        if (failed === null) failed = calls.child([action.name, "error"]);
        failed.inc();
        throw err;
      };
      return function countCall(ctx: Context): Promise<unknown> {
        return next(ctx).then(onOk, onError);
      };
    },
  } as unknown as Middleware;
}
