/**
 * The gateway's access step (runtime-contract §25.1), run after routing and before a request's body
 * is read. This version has no API keys, so it is always in open mode: every request is allowed,
 * except on the routes flagged `loopbackOnlyInOpenMode` in the route table (catalog writes), which
 * only a client on a loopback address may call. The client address is the TCP peer's
 * (`req.socket.remoteAddress`); forwarding headers (X-Forwarded-For, Forwarded) are not trusted,
 * since any client can send them.
 */
import net from "node:net";
import { ContractError } from "../../lib/errors";
import type { RouteSpec } from "./routes";

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
// ::1, and IPv4-mapped 127.x.x.x (a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d).
LOOPBACK.addAddress("::1", "ipv6");

/** True for 127.0.0.0/8, ::1 and ::ffff:127.x.x.x; false for anything else, an unknown address included. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const family = net.isIP(address);
  if (family === 0) return false;
  return LOOPBACK.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** The route's path as the contract writes it (`/servers/{id}`). */
function contractPath(route: RouteSpec): string {
  return route.path.replace(/:([A-Za-z_]+)/g, "{$1}");
}

/**
 * The 403 a request on `route` from `clientAddress` gets in open mode, or null when it may proceed.
 * The detail names the request and the rule, for the operator who meets it.
 */
export function openModeDenial(route: RouteSpec, clientAddress: string | undefined): ContractError | null {
  if (route.loopbackOnlyInOpenMode !== true || isLoopbackAddress(clientAddress)) return null;
  return new ContractError(
    403,
    `${route.method} ${contractPath(route)} is allowed only from a loopback address (127.0.0.1, ::1) while no API key exists`,
  );
}
