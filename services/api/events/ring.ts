/**
 * The newest events a gateway holds for resumes (runtime-contract §23.1): a fixed-size ring (with a
 * byte budget), oldest overwritten first, entries in the order they were received (increasing `seq`, non-decreasing `ms`).
 * It remembers the newest entry it has dropped, so a resume point can be told "still covered" from
 * "gone".
 */
import type { EventType } from "./filter";

/** One event as the gateway sends it: its position, what it is about, and its framed bytes. */
export interface StreamEntry {
  seq: number;
  ms: number;
  type: EventType;
  /** The servers the event concerns (null: may concern any server). */
  servers: readonly string[] | null;
  /** The event's SSE frame (id, event, data lines), built once for every client. */
  frame: Buffer;
}

export class EventRing {
  private readonly slots: (StreamEntry | undefined)[];
  /** Index of the oldest entry. */
  private start = 0;
  private count = 0;
  private heldBytes = 0;
  /** The newest entry dropped to make room (null: nothing dropped yet). */
  private dropped: { seq: number; ms: number } | null = null;

  /**
   * `capacity` entries at most, and at most `maxBytes` of frames (the oldest go first; the newest
   * entry is always kept): events are small, but a run may carry a large metadata object.
   */
  constructor(
    readonly capacity: number,
    readonly maxBytes = Infinity,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes of the frames held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Appends an entry (its seq and ms must not be below the newest's), dropping the oldest ones as needed. */
  push(entry: StreamEntry): void {
    if (this.count === this.capacity) this.dropOldest();
    this.slots[(this.start + this.count) % this.capacity] = entry;
    this.count += 1;
    this.heldBytes += entry.frame.length;
    while (this.heldBytes > this.maxBytes && this.count > 1) this.dropOldest();
  }

  private dropOldest(): void {
    const oldest = this.slots[this.start] as StreamEntry;
    this.dropped = { seq: oldest.seq, ms: oldest.ms };
    this.heldBytes -= oldest.frame.length;
    this.slots[this.start] = undefined;
    this.start = (this.start + 1) % this.capacity;
    this.count -= 1;
  }

  /** The i-th entry from the oldest (0-based). */
  at(i: number): StreamEntry {
    return this.slots[(this.start + i) % this.capacity] as StreamEntry;
  }

  /** The oldest entry held, or undefined when empty. */
  oldest(): StreamEntry | undefined {
    return this.count === 0 ? undefined : this.at(0);
  }

  /** The newest entry dropped so far (null when the ring has never been full). */
  lastDropped(): { seq: number; ms: number } | null {
    return this.dropped;
  }

  /** The entries with seq > `seq`, oldest first. */
  afterSeq(seq: number): StreamEntry[] {
    return this.from(this.firstIndex((e) => e.seq > seq));
  }

  /** The entries received at or after `ms`, oldest first. */
  sinceMs(ms: number): StreamEntry[] {
    return this.from(this.firstIndex((e) => e.ms >= ms));
  }

  private from(index: number): StreamEntry[] {
    const out: StreamEntry[] = [];
    for (let i = index; i < this.count; i++) out.push(this.at(i));
    return out;
  }

  /** The first index whose entry satisfies `pred` (monotonic over the ring), or size when none does. */
  private firstIndex(pred: (e: StreamEntry) => boolean): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pred(this.at(mid))) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
