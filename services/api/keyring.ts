/**
 * The gateway's copy of the API keys (runtime-contract §25.1): each key's SHA-256 hash, role,
 * expiry and rate limits, as the `access` service pushes them (`api.accessChanged`) or as the gateway
 * polls them (`access.keySnapshot`). A request's key is checked here, with no broker call: its text is
 * hashed and compared with every stored hash in constant time.
 *
 * `CONSOLE_MCP_ADMIN_KEY` is known to the gateway itself: with it the gateway is in keyed mode from
 * its first request, and that key is admin even before the first snapshot arrives (the `access`
 * service stores it as the key named `bootstrap`).
 *
 * Keys used are remembered with their last instant and handed over in batches (`takeUsage`), so
 * `last_used_at` costs one write per key per batch, not one per request.
 */
import { type GatewayKey, hashApiKey, type KeySnapshot, Role, sameHash } from "../../lib/access";

export type { KeySnapshot };

/** Who a request is: the key it presented (valid, unexpired). */
export interface KeyPrincipal {
  /** The stored key's id; null for CONSOLE_MCP_ADMIN_KEY before the first snapshot. */
  id: string | null;
  name: string;
  role: Role;
  rateLimitRps: number | null;
  rateLimitRuns: number | null;
}

export const BOOTSTRAP_NAME = "bootstrap";

export class Keyring {
  private keys: GatewayKey[] = [];
  private held = -1;
  private used = new Map<string, number>();
  private readonly adminHash: string | null;

  constructor(adminKey: string | null) {
    this.adminHash = adminKey === null ? null : hashApiKey(adminKey);
  }

  /** The snapshot version held; -1 before the first. */
  get version(): number {
    return this.held;
  }

  /** True once a snapshot is installed. */
  get loaded(): boolean {
    return this.held >= 0;
  }

  /** Installs a snapshot unless an equal or newer one is held; true when installed. */
  install(snapshot: KeySnapshot): boolean {
    if (!Number.isFinite(snapshot.version) || snapshot.version <= this.held || !Array.isArray(snapshot.keys)) return false;
    this.keys = snapshot.keys;
    this.held = snapshot.version;
    return true;
  }

  /** Keyed mode (§25.1): at least one key exists, or CONSOLE_MCP_ADMIN_KEY is given. */
  keyed(): boolean {
    return this.adminHash !== null || this.keys.length > 0;
  }

  /**
   * The principal of a presented key text, or null when it matches no unexpired key. Every stored
   * hash is compared (constant time each), whatever matches first.
   */
  authenticate(text: string, nowMs: number = Date.now()): KeyPrincipal | null {
    const hash = hashApiKey(text);
    let found: GatewayKey | null = null;
    for (const key of this.keys) {
      if (sameHash(hash, key.hash) && found === null) found = key;
    }
    if (found !== null) {
      if (found.expires_at_ms !== null && found.expires_at_ms <= nowMs) return null;
      const seen = this.used.get(found.id);
      if (seen === undefined || seen < nowMs) this.used.set(found.id, nowMs);
      return { id: found.id, name: found.name, role: found.role, rateLimitRps: found.rate_limit_rps, rateLimitRuns: found.rate_limit_runs };
    }
    if (this.adminHash !== null && sameHash(hash, this.adminHash)) {
      return { id: null, name: BOOTSTRAP_NAME, role: "admin", rateLimitRps: null, rateLimitRuns: null };
    }
    return null;
  }

  /** The keys used since the last call (key id → last use, epoch ms), and forgets them. */
  takeUsage(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, at] of this.used) out[id] = at;
    this.used = new Map();
    return out;
  }

  /** Puts back usage that could not be handed over (a newer use wins). */
  restoreUsage(usage: Record<string, number>): void {
    for (const id of Object.keys(usage)) {
      const at = this.used.get(id);
      if (at === undefined || at < usage[id]) this.used.set(id, usage[id]);
    }
  }
}
