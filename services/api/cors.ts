/**
 * CORS as the contract defines it (§14): the allow-list, preflight answers, and the headers of
 * actual requests. Applied before routing, so unknown paths and errors carry the headers too.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Config } from "../../lib/config";

export const PREFLIGHT_ALLOW_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";
export const PREFLIGHT_MAX_AGE_S = 600;

/** The allowed origins: the explicit list, or the defaults from the frontend host and port. */
export function allowedOrigins(config: Pick<Config, "corsOrigins" | "frontendHost" | "frontendPort">): string[] {
  if (config.corsOrigins !== null) return config.corsOrigins;
  const host = config.frontendHost === "0.0.0.0" || config.frontendHost === "::" ? "127.0.0.1" : config.frontendHost;
  const port = config.frontendPort;
  const origins = [`http://${host}:${port}`];
  if (host === "127.0.0.1") origins.push(`http://localhost:${port}`);
  if (host === "localhost") origins.push(`http://127.0.0.1:${port}`);
  return origins;
}

export interface CorsPolicy {
  isAllowed(origin: string): boolean;
}

export function corsPolicy(origins: string[]): CorsPolicy {
  const all = origins.includes("*");
  const set = new Set(origins);
  return { isAllowed: (origin) => all || set.has(origin) };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Applies CORS to a request. Answers preflights itself (returns true: the request is done);
 * otherwise sets the headers of an actual request and returns false.
 */
export function applyCors(policy: CorsPolicy, req: IncomingMessage, res: ServerResponse): boolean {
  const origin = header(req, "origin");
  if (origin === undefined) return false;
  const allowed = policy.isAllowed(origin);
  const isPreflight = req.method === "OPTIONS" && header(req, "access-control-request-method") !== undefined;
  if (isPreflight) {
    if (!allowed) {
      res.writeHead(400, { "Content-Type": "text/plain; charset=utf-8", Vary: "Origin" });
      res.end("Disallowed CORS origin");
      return true;
    }
    const headers: Record<string, string> = {
      "Access-Control-Allow-Origin": origin,
      "Access-Control-Allow-Credentials": "true",
      "Access-Control-Allow-Methods": PREFLIGHT_ALLOW_METHODS,
      "Access-Control-Max-Age": String(PREFLIGHT_MAX_AGE_S),
      Vary: "Origin",
      "Content-Type": "text/plain; charset=utf-8",
    };
    const requested = header(req, "access-control-request-headers");
    if (requested !== undefined) headers["Access-Control-Allow-Headers"] = requested;
    res.writeHead(200, headers);
    res.end("OK");
    return true;
  }
  res.setHeader("Vary", "Origin");
  if (allowed) {
    res.setHeader("Access-Control-Allow-Origin", origin);
    res.setHeader("Access-Control-Allow-Credentials", "true");
  }
  return false;
}
