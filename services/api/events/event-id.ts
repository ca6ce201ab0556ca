/**
 * Event ids of the stream (runtime-contract §23.1): `<ms>-<seq>-<tag>`, e.g. `1718000000123-42-k3f9a2x0`.
 *
 * - `tag`: 8 random base-36 characters drawn when the gateway's stream starts: it tells this
 *   gateway's ids (and this run of it) from every other's.
 * - `seq`: the gateway's position, 1 for its first event and one more for each next one, so the ids of
 *   one stream increase and a resume on the same gateway is exact.
 * - `ms`: when the gateway received the event (epoch ms, never going back: the larger of the clock
 *   and the previous event's), so an id is comparable on any gateway: another gateway that receives
 *   the id replays what it received from that instant on, less an overlap for clock skew and delivery
 *   delays between gateways (see hub.ts, RESUME_OVERLAP_MS).
 *
 * Clients treat ids as opaque; these functions are the only ones that build or read them.
 */
import { randomBytes } from "node:crypto";

export interface EventPosition {
  ms: number;
  seq: number;
  tag: string;
}

const ID = /^(\d{1,15})-(\d{1,15})-([0-9a-z]{8})$/;

/** A new gateway tag: 8 base-36 characters. */
export function newStreamTag(): string {
  let tag = "";
  for (const byte of randomBytes(8)) tag += (byte % 36).toString(36);
  return tag;
}

export function formatEventId(position: EventPosition): string {
  return `${position.ms}-${position.seq}-${position.tag}`;
}

/** The position an id names, or null when the text is not an id of this format (any gateway's). */
export function parseEventId(text: string | undefined | null): EventPosition | null {
  if (typeof text !== "string") return null;
  const match = ID.exec(text.trim());
  if (match === null) return null;
  const ms = Number(match[1]);
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(seq)) return null;
  return { ms, seq, tag: match[3] };
}
