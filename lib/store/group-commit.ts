/**
 * Group commit: writes submitted while the store is busy wait in a queue and are then written
 * together by one call of `write` (one transaction), so the fixed cost of a transaction — BEGIN,
 * COMMIT (SQLite's WAL append, PostgreSQL's WAL flush), one round trip per statement, the locks on
 * shared rollup rows — is paid once per group instead of once per request. A write that finds the
 * store idle starts at once (no added wait); the queue only forms while a group is being written.
 *
 * `write` settles each unit of its group separately (a unit can fail alone, e.g. a reused
 * Idempotency-Key); when it throws, every unit of the group fails with that error.
 */

/** The outcome of one unit: its value, or the error it fails with. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface GroupCommitOptions<U> {
  /** Groups written at the same time (1 for SQLite's single writer). */
  concurrency: number;
  /** Most units in a group. */
  maxUnits: number;
  /** A unit's size (e.g. its rows) and the most a group holds; a single larger unit still forms a group. */
  sizeOf?: (unit: U) => number;
  maxSize?: number;
  /**
   * Units with the same non-undefined conflict key never share a group (e.g. one Idempotency-Key:
   * the second must see the first one's committed record); the later one waits for a later group.
   */
  conflictKey?: (unit: U) => string | undefined;
}

interface Pending<U, R> {
  unit: U;
  resolve(value: R): void;
  reject(error: unknown): void;
}

export class GroupCommit<U, R> {
  private readonly queue: Pending<U, R>[] = [];
  private running = 0;

  constructor(
    private readonly write: (units: U[]) => Promise<Settled<R>[]>,
    private readonly options: GroupCommitOptions<U>,
  ) {}

  /** Writes the unit with the next group; resolves with its own outcome once that group is written. */
  submit(unit: U): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ unit, resolve, reject });
      this.pump();
    });
  }

  /** Units waiting for a group (not counting the groups being written). */
  get waiting(): number {
    return this.queue.length;
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.queue.length > 0) {
      const group = this.takeGroup();
      this.running += 1;
      void this.writeGroup(group).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  /** The oldest units that fit one group, in arrival order; the others keep their place. */
  private takeGroup(): Pending<U, R>[] {
    const { maxUnits, sizeOf, maxSize, conflictKey } = this.options;
    const taken: Pending<U, R>[] = [];
    const kept: Pending<U, R>[] = [];
    const keys = new Set<string>();
    let size = 0;
    for (const pending of this.queue) {
      const unitSize = sizeOf === undefined ? 0 : sizeOf(pending.unit);
      const key = conflictKey?.(pending.unit);
      const fits =
        taken.length < maxUnits &&
        (taken.length === 0 || maxSize === undefined || size + unitSize <= maxSize) &&
        (key === undefined || !keys.has(key));
      if (fits) {
        taken.push(pending);
        size += unitSize;
        if (key !== undefined) keys.add(key);
      } else {
        kept.push(pending);
      }
    }
    this.queue.splice(0, this.queue.length, ...kept);
    return taken;
  }

  private async writeGroup(group: Pending<U, R>[]): Promise<void> {
    let outcomes: Settled<R>[];
    try {
      outcomes = await this.write(group.map((p) => p.unit));
      if (outcomes.length !== group.length) throw new Error(`group write settled ${outcomes.length} of ${group.length} units`);
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    outcomes.forEach((o, i) => {
      if (o.ok) group[i].resolve(o.value);
      else group[i].reject(o.error);
    });
  }
}
