/**
 * The gateway's access step (runtime-contract §25.1), run after routing (404/405 first) and before
 * a request's body is read, from the route table's `role` of each route and the gateway's keyring:
 *
 * - `public` routes (/healthz, /readyz) are open in every mode;
 * - **open mode** (no key exists): every request is allowed, except on the routes flagged
 *   `loopbackOnlyInOpenMode` (catalog writes, revealing a secret, creating the first key), which
 *   only a client on a loopback address may call (403 otherwise); a key sent along is ignored;
 * - **keyed mode**: a request without a valid key → 401 `Missing or invalid API key`; a key whose
 *   role is below the route's → 403 `Role '<role>' may not <METHOD> <path>`.
 *
 * The client address is the TCP peer's (`req.socket.remoteAddress`); forwarding headers
 * (X-Forwarded-For, Forwarded) are not trusted, since any client can send them. The key comes from
 * `X-API-Key` (the console UI's header) or `Authorization: Bearer <key>`.
 */
import type { IncomingMessage } from "node:http";
import net from "node:net";
import { roleIncludes } from "../../lib/access";
import { ContractError } from "../../lib/errors";
import type { KeyPrincipal } from "./keyring";
import type { RouteSpec } from "./routes";

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
// ::1, and IPv4-mapped 127.x.x.x (a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d).
LOOPBACK.addAddress("::1", "ipv6");

/** True for 127.0.0.0/8, ::1 and ::ffff:127.x.x.x; false for anything else, an unknown address included. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  // Every request asks this of its client and Host addresses, and BlockList.check builds a
  // SocketAddress per call: the answers are kept (a client's address recurs; the map is bounded).
  const known = loopbackAnswers.get(address);
  if (known !== undefined) return known;
  const family = net.isIP(address);
  const answer = family !== 0 && LOOPBACK.check(address, family === 4 ? "ipv4" : "ipv6");
  if (loopbackAnswers.size >= LOOPBACK_ANSWERS_MAX) loopbackAnswers.clear();
  loopbackAnswers.set(address, answer);
  return answer;
}

/** isLoopbackAddress's answers by address text (cleared whole when full). */
const loopbackAnswers = new Map<string, boolean>();
const LOOPBACK_ANSWERS_MAX = 4096;

/** The route's path as the contract writes it (`/servers/{id}`). */
export function contractPath(route: Pick<RouteSpec, "path">): string {
  return route.path.replace(/:([A-Za-z_]+)/g, "{$1}");
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The key a request presents: `X-API-Key`, else `Authorization: Bearer <key>` (scheme in any case);
 * undefined when it presents none (an empty value is none).
 */
export function presentedKey(req: IncomingMessage): string | undefined {
  const direct = header(req, "x-api-key")?.trim();
  if (direct !== undefined && direct !== "") return direct;
  const auth = header(req, "authorization");
  const match = auth === undefined ? null : /^\s*bearer\s+(\S+)\s*$/i.exec(auth);
  return match === null ? undefined : match[1];
}

/** The 401 of keyed mode. */
export const MISSING_KEY = "Missing or invalid API key";

/**
 * The decision on a request (403 and 401 as ContractErrors, or null when it may proceed). `keyed`:
 * the keyring's mode; `principal`: the presented key's principal (null: none or not valid).
 */
export function accessDenial(
  route: RouteSpec,
  keyed: boolean,
  principal: KeyPrincipal | null,
  clientAddress: string | undefined,
): ContractError | null {
  if (route.role === "public") return null;
  if (!keyed) {
    if (route.loopbackOnlyInOpenMode !== true || isLoopbackAddress(clientAddress)) return null;
    return new ContractError(
      403,
      `${route.method} ${contractPath(route)} is allowed only from a loopback address (127.0.0.1, ::1) while no API key exists`,
    );
  }
  if (principal === null) return new ContractError(401, MISSING_KEY);
  if (!roleIncludes(principal.role, route.role)) {
    return new ContractError(403, `Role '${principal.role}' may not ${route.method} ${contractPath(route)}`);
  }
  return null;
}

/** Open mode's rule alone (no key exists): kept for callers that know they are in open mode. */
export function openModeDenial(route: RouteSpec, clientAddress: string | undefined): ContractError | null {
  return accessDenial(route, false, null, clientAddress);
}
