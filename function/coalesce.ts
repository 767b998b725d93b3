// Concurrent identical queries share API reads, without ever answering from a read that began
// before the caller arrived (a count must reflect the state after the request). While a read is
// in flight, newcomers join the *next* read, started when the current one ends. N concurrent
// callers therefore cost at most two reads, and a burst cannot stampede the API server.

interface Slot<V> {
  inFlight?: Promise<V> | undefined;
  queued?: Promise<V> | undefined;
}

export class Coalescer<V> {
  readonly #slots = new Map<string, Slot<V>>();

  run(key: string, read: () => Promise<V>): Promise<V> {
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = {};
      this.#slots.set(key, slot);
    }
    const inFlight = slot.inFlight;
    if (!inFlight) return this.#start(key, slot, read);
    const current = slot;
    current.queued ??= inFlight.then(ignore, ignore).then(() => {
      current.queued = undefined;
      return this.#start(key, current, read);
    });
    return current.queued;
  }

  /** Queries with a read in flight or queued (for tests and shutdown). */
  get size(): number {
    return this.#slots.size;
  }

  #start(key: string, slot: Slot<V>, read: () => Promise<V>): Promise<V> {
    const p: Promise<V> = Promise.resolve()
      .then(read)
      .finally(() => {
        if (slot.inFlight !== p) return;
        slot.inFlight = undefined;
        if (!slot.queued) this.#slots.delete(key);
      });
    slot.inFlight = p;
    return p;
  }
}

function ignore(): void {}
