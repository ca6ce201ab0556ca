/**
 * Roles and API keys (runtime-contract §25.1), shared by the gateway (which checks every request)
 * and the `access` service (which stores the keys): the role order, the key format and its hash,
 * and the audit context the gateway hands every action in `ctx.meta.audit`.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** §25.1: each role includes the ones before it. */
export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** What a route requires: a role, or nothing (`public`: /healthz and /readyz stay open). */
export type RouteRole = Role | "public";

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

/** True when `role` includes `needed` (viewer ⊂ operator ⊂ admin). */
export function roleIncludes(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** What each role may do (GET /security/roles), each including the ones before it. */
export const ROLE_DESCRIPTIONS: Readonly<Record<Role, string>> = {
  viewer:
    "Read everything: every GET (catalog, processes, logs, health, tools, sessions, telemetry, FinOps, the secrets list without values, events)",
  operator:
    "Everything a viewer may, plus: open and close sessions, start, stop and restart processes, health pings, tool calls, POST /telemetry/runs, pull-request registration, routing simulations",
  admin:
    "Everything an operator may, plus: catalog writes (POST/PUT/DELETE /servers), secrets (reveal, store, delete, test), API keys, the audit log",
};

/** A new key's text: `cmk_` and 43 base64url characters (32 random bytes). Shown once. */
export function generateApiKey(): string {
  return `cmk_${randomBytes(32).toString("base64url")}`;
}

/** A key's stored form: the SHA-256 of its text, hex (§25.1: keys are stored as hashes). */
export function hashApiKey(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The first 8 characters of a key (§25.1 `prefix`), to recognise it in a list. */
export function keyPrefix(text: string): string {
  return text.slice(0, 8);
}

/** Compares two hex hashes in constant time (a length difference is answered at once: lengths are public). */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/**
 * Who made a request and what it does, as the gateway hands it to every action in
 * `ctx.meta.audit` (§25.2). An action that changes something writes its audit entry from it in the
 * transaction of the change (lib/store/audit.ts) and sets `ctx.meta.$audited`; the gateway writes
 * the entry of any other write (and of every failure and denial) itself.
 */
export interface AuditContext {
  /** The key's name, or `anonymous@<client address>`. */
  actor: string;
  /** The key's role; null for an anonymous request (open mode). */
  role: Role | null;
  /** e.g. `process.start`, `tool.call`, `secret.put` (the route table's `audit` name). */
  action: string;
  /** e.g. `server:gemini`; null when the request names nothing. */
  target: string | null;
  request_id: string | null;
  /** The status the gateway answers on success (the route's), unless the action sets another. */
  status: number;
  /**
   * Set by an action for the service that writes the entry on its behalf (a tool call's outcome and
   * tool name, written by telemetry with the call's run): never secrets or tool arguments.
   */
  outcome?: "ok" | "denied" | "error";
  details?: Record<string, unknown>;
}

/**
 * A key as the gateways check it (§25.1), as the access service hands it to them
 * (`access.keySnapshot`, `api.accessChanged`): the hash, never the key; never answered over HTTP.
 */
export interface GatewayKey {
  id: string;
  name: string;
  role: Role;
  hash: string;
  /** Epoch ms, or null: never expires. */
  expires_at_ms: number | null;
  rate_limit_rps: number | null;
  rate_limit_runs: number | null;
}

/** Every key and the version they are at: what gateways hold. */
export interface KeySnapshot {
  version: number;
  keys: GatewayKey[];
}
