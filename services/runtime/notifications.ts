/**
 * Notifications (runtime-contract §23.2) from what really happened: the status transitions the
 * runtime records in the same transaction as the change they describe (services/runtime/store.ts,
 * `runtime_transitions`; one writer per fact: the replica that writes the state or the check). Pure:
 * a transition in, a notification out. A notification's `id` is its transition's, so it is stable and
 * every replica answers the same list.
 */
import type { Transition } from "./store";

export type NotificationSeverity = "info" | "success" | "warning" | "critical";

/** §23.2 Notification. */
export interface Notification {
  id: string;
  severity: NotificationSeverity;
  title: string;
  message: string;
  timestamp: string;
  category: "operations" | "finops" | "policies" | "platform";
  tags: string[];
}

/** §23.2: at most this many, newest first. */
export const NOTIFICATIONS_MAX = 50;
/** §23.2: from the last 7 days. */
export const NOTIFICATIONS_WINDOW_MS = 7 * 86_400_000;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * The notification of a transition, or null for a transition that is not one (a normal start or
 * stop, a first healthy check). The list query (store.listNotableTransitions) selects the same ones.
 */
export function notificationOf(t: Transition): Notification | null {
  const server = t.server_id;
  const base = { id: `transition-${t.id}`, timestamp: t.at, category: "operations" as const };
  const restarts = t.restarts ?? 0;
  if (t.kind === "process") {
    const tags = [`server:${server}`, "process", t.to_status];
    if (t.to_status === "error") {
      return {
        ...base,
        severity: "critical",
        tags,
        title: `Server '${server}' failed`,
        message: t.detail ?? `The process of '${server}' entered error${t.from_status === null ? "" : ` (was ${t.from_status})`}`,
      };
    }
    if (t.to_status === "starting" && restarts > 0) {
      return {
        ...base,
        severity: "warning",
        tags: [...tags, "restart"],
        title: `Server '${server}' restarted after a failure`,
        message: `Automatic restart ${restarts}${t.detail === null ? "" : ` after: ${t.detail}`}`,
      };
    }
    if (t.to_status === "running" && restarts > 0) {
      return {
        ...base,
        severity: "success",
        tags: [...tags, "recovered"],
        title: `Server '${server}' recovered`,
        message: `Running again after ${plural(restarts, "automatic restart")}`,
      };
    }
    return null;
  }
  const tags = [`server:${server}`, "health", t.to_status];
  if (t.to_status === "degraded" || t.to_status === "error") {
    return {
      ...base,
      severity: "warning",
      tags,
      title: t.to_status === "degraded" ? `Server '${server}' is degraded` : `Server '${server}' failed a health check`,
      message: t.detail ?? `Health check: ${t.to_status}${t.from_status === null ? "" : ` (was ${t.from_status})`}`,
    };
  }
  if (t.to_status === "healthy" && (t.from_status === "degraded" || t.from_status === "error")) {
    return {
      ...base,
      severity: "success",
      tags: [...tags, "recovered"],
      title: `Server '${server}' is healthy again`,
      message: `Health check healthy after ${t.from_status}${t.detail === null ? "" : `: ${t.detail}`}`,
    };
  }
  return null;
}
