/**
 * Everything a backend says, for tests that check that a value never appears in it (runtime-contract
 * §24: no secret in logs, events, errors or audit): a Moleculer logger that keeps every log line of
 * every level (as text, errors with their messages, stacks and data), and a service that keeps every
 * event broadcast or emitted on the broker (name and JSON payload).
 */
import { inspect } from "node:util";
import { Loggers } from "moleculer";
import type { ServiceSchema } from "moleculer";

/** Moleculer's logger base class, as far as a custom logger uses it. */
const BaseLogger = Loggers.Base as unknown as new (
  opts?: Record<string, unknown>,
) => {
  getLogHandler(bindings: { mod?: string; nodeID?: string }): ((type: string, args: unknown[]) => void) | null;
};

function text(value: unknown): string {
  if (typeof value === "string") return value;
  return inspect(value, { depth: 10, breakLength: Infinity, showHidden: false });
}

/** A Moleculer logger (`logger: new CaptureLogger(lines)`) keeping every line at every level. */
export class CaptureLogger extends BaseLogger {
  constructor(readonly lines: string[]) {
    super({ level: "trace" });
  }

  getLogHandler(bindings: { mod?: string; nodeID?: string }): (type: string, args: unknown[]) => void {
    return (type, args) => {
      this.lines.push(`${type} ${bindings.mod ?? ""} ${args.map(text).join(" ")}`);
    };
  }
}

/** A service that keeps every broker event (`**`) as `<name> <JSON payload>`. */
export function eventCapture(events: string[]): ServiceSchema {
  return {
    name: "test-event-capture",
    events: {
      "**": {
        handler(ctx: { eventName: string | null; params: unknown }) {
          let payload: string;
          try {
            payload = JSON.stringify(ctx.params);
          } catch {
            payload = text(ctx.params);
          }
          events.push(`${String(ctx.eventName)} ${payload}`);
        },
      },
    },
  };
}
