// Concurrent identical queries share API reads, without ever answering from a read that began
// before the caller arrived (a count must reflect the state after the request). A read starts
// only after the event loop has polled for I/O once more, so requests already received (and
// waiting in socket buffers while the loop answered others) join it; while a
// read is in flight, newcomers join the *next* read, started when the current one ends. N
// concurrent callers therefore cost at most two reads, and a burst cannot stampede the API server.

interface Read<V> {
  promise: Promise<V>;
  /** Once true, the read has gone to the API server: later callers must wait for the next one. */
  started: boolean;
}

interface Slot<V> {
  current?: Read<V> | undefined;
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
    const current = slot.current;
    if (!current) return this.#start(key, slot, read).promise;
    if (!current.started) return current.promise;
    const s = slot;
    s.queued ??= current.promise.then(ignore, ignore).then(() => {
      s.queued = undefined;
      return this.#start(key, s, read).promise;
    });
    return s.queued;
  }

  /** Queries with a read in flight or queued (for tests). */
  get size(): number {
    return this.#slots.size;
  }

  #start(key: string, slot: Slot<V>, read: () => Promise<V>): Read<V> {
    const entry = { started: false } as Read<V>;
    entry.promise = afterNextPoll()
      .then(() => {
        entry.started = true;
        return read();
      })
      .finally(() => {
        // Still the slot's current read: the queued one starts only after this settles.
        slot.current = undefined;
        if (!slot.queued) this.#slots.delete(key);
      });
    slot.current = entry;
    return entry;
  }
}

function ignore(): void {}

/** Resolves in the check phase of the next loop iteration, i.e. after one more I/O poll phase. */
function afterNextPoll(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
