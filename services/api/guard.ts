/**
 * The cross-site and DNS-rebinding guard (runtime-contract §25.1), in every mode, before routing:
 *
 * - **Host**: a request whose `Host` names something other than a loopback name (`localhost`,
 *   `*.localhost`) or address (127.0.0.0/8, ::1), the bind address, or a name of
 *   CONSOLE_MCP_ALLOWED_HOSTS → 403 `Host not allowed`. A page served from `evil.example` whose name
 *   an attacker re-points at 127.0.0.1 reaches the console with `Host: evil.example` and is refused.
 *   When the gateway binds every interface (0.0.0.0 or ::), "the bind address" is each address of
 *   this machine's interfaces (clients reaching it by IP, health probes); names still need
 *   CONSOLE_MCP_ALLOWED_HOSTS. `*` there turns the check off. A request without Host (HTTP/1.0; no
 *   browser sends one) passes.
 * - **Origin**: a request other than GET/HEAD/OPTIONS whose `Origin` is present and not allowed by
 *   the CORS list (api-contract §14) → 403 `Origin not allowed`. A page on another origin can send a
 *   "simple" cross-site POST (no preflight: a body without a content type, or text/plain); the
 *   browser adds its Origin, and that is refused before anything is read or stored.
 */
import type { IncomingMessage } from "node:http";
import net from "node:net";
import os from "node:os";
import type { AllowedHosts } from "../../lib/config";
import { ContractError } from "../../lib/errors";
import { isLoopbackAddress } from "./access";
import type { CorsPolicy } from "./cors";

/** Methods a browser page may send cross-site whose answer it cannot read and that change nothing. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
/** Interface addresses are re-read at most this often when a Host does not match them. */
const INTERFACE_REFRESH_MS = 1000;
/** Most Host values hostAllowed keeps as allowed (a client may send any). */
const ALLOWED_VALUES_MAX = 256;

/** The host part of a Host header, lower-cased, without port, brackets or a final dot; null when malformed. */
export function hostOf(value: string): string | null {
  const text = value.trim().toLowerCase();
  if (text === "") return null;
  let host: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return null;
    const rest = text.slice(end + 1);
    if (rest !== "" && !/^:\d*$/.test(rest)) return null;
    host = text.slice(1, end);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon >= 0 && text.indexOf(":") !== colon) return null; // an unbracketed IPv6 address: not a Host value
    host = colon >= 0 ? text.slice(0, colon) : text;
    if (colon >= 0 && !/^\d*$/.test(text.slice(colon + 1))) return null;
  }
  if (host.endsWith(".")) host = host.slice(0, -1);
  return host === "" ? null : host;
}

function isWildcard(address: string): boolean {
  return address === "0.0.0.0" || address === "::" || address === "";
}

function interfaceAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const info of list ?? []) out.add(info.address.toLowerCase().replace(/%.*$/, ""));
  }
  return out;
}

export class RequestGuard {
  private readonly names: Set<string>;
  private addresses: Set<string> = new Set();
  private readAtMs = 0;
  /**
   * Host values allowed by the fixed rules (loopback, the bind address, CONSOLE_MCP_ALLOWED_HOSTS),
   * as sent: every request of a browser or client repeats the same one, so it is parsed once. Only
   * answers that cannot change are kept (not those from the interface addresses); cleared when full.
   */
  private readonly allowedValues = new Set<string>();

  constructor(private readonly options: { bindHost: string; allowedHosts: AllowedHosts; cors: CorsPolicy }) {
    this.names = new Set(options.allowedHosts.names);
    const bind = options.bindHost.toLowerCase();
    if (!isWildcard(bind)) this.names.add(bind.replace(/^\[(.*)\]$/, "$1"));
  }

  /** True when a Host value names this console. */
  hostAllowed(value: string | undefined): boolean {
    if (value === undefined || this.options.allowedHosts.any || this.allowedValues.has(value)) return true;
    const host = hostOf(value);
    if (host === null) return false;
    if (host === "localhost" || host.endsWith(".localhost") || isLoopbackAddress(host) || this.names.has(host)) {
      if (this.allowedValues.size >= ALLOWED_VALUES_MAX) this.allowedValues.clear();
      this.allowedValues.add(value);
      return true;
    }
    if (!isWildcard(this.options.bindHost) || net.isIP(host) === 0) return false;
    // Bound to every interface: any address of this machine (re-read when one is not found, at most once a second).
    if (this.addresses.has(host)) return true;
    const now = Date.now();
    if (now - this.readAtMs < INTERFACE_REFRESH_MS) return false;
    this.readAtMs = now;
    this.addresses = interfaceAddresses();
    return this.addresses.has(host);
  }

  /** The 403 of a request whose Host does not name this console, or null. */
  hostDenial(req: IncomingMessage): ContractError | null {
    return this.hostAllowed(req.headers.host) ? null : new ContractError(403, "Host not allowed");
  }

  /** The 403 of a write (not GET/HEAD/OPTIONS) from an Origin the CORS list does not allow, or null. */
  originDenial(req: IncomingMessage): ContractError | null {
    if (SAFE_METHODS.has(req.method ?? "GET")) return null;
    const origin = req.headers.origin;
    if (origin === undefined || this.options.cors.isAllowed(Array.isArray(origin) ? origin[0] : origin)) return null;
    return new ContractError(403, "Origin not allowed");
  }
}
