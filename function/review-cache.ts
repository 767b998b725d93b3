// The answers of TokenReviews and SubjectAccessReviews, reused briefly so a burst of callers does
// not become a burst of reviews. Bounded in time and size: an answer is kept at most `ttlMs` from
// the moment its review was sent (never from when it came back, so a slow review cannot stretch
// the bound), or less when the answer says so (a token's own expiry); at most `maxEntries`
// answers, the least recently used dropped first. Callers asking the same question while its
// review is in flight share that review. A review that fails (the API server did not answer) is
// forgotten at once: the next caller asks again, nothing is served from a failure.
// Keys are opaque strings made by the caller (caller-auth.ts: hashes, never a token).

export interface ReviewCacheOptions {
  ttlMs: number;
  maxEntries: number;
  /** The clock (tests pass a fake one). */
  now?: () => number;
}

interface Entry<V> {
  promise: Promise<V>;
  settled: boolean;
  /** The answer, once settled (peek() hands it out without a promise). */
  value?: V;
  expiresAt: number;
}

export class ReviewCache<V> {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly #now: () => number;
  /** Insertion order is recency order: a hit is moved to the end, eviction takes the first. */
  readonly #entries = new Map<string, Entry<V>>();
  /** Reviews actually sent (misses), for /diagnostics and tests. */
  reviews = 0;

  constructor(o: ReviewCacheOptions) {
    this.ttlMs = o.ttlMs;
    this.maxEntries = o.maxEntries;
    this.#now = o.now ?? Date.now;
  }

  /** A live answer for `key`, without waiting: what most requests of a burst find. */
  peek(key: string): V | undefined {
    const hit = this.#entries.get(key);
    if (!hit?.settled || this.#now() >= hit.expiresAt) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, hit);
    return hit.value;
  }

  /**
   * The answer for `key`: a live cached one, the one in flight, or a new `review()`. `until` may
   * shorten how long an answer is kept (an absolute time in ms), never lengthen it.
   */
  get(key: string, review: () => Promise<V>, until?: (answer: V) => number | undefined): Promise<V> {
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      if (!hit.settled || this.#now() < hit.expiresAt) {
        this.#entries.set(key, hit);
        return hit.promise;
      }
    }
    const sentAt = this.#now();
    const entry: Entry<V> = { promise: undefined as unknown as Promise<V>, settled: false, expiresAt: sentAt + this.ttlMs };
    this.reviews += 1;
    let sent: Promise<V>;
    try {
      sent = review();
    } catch (err) {
      sent = Promise.reject(err);
    }
    entry.promise = sent.then(
      (answer) => {
        entry.settled = true;
        entry.value = answer;
        const limit = until?.(answer);
        if (limit !== undefined) entry.expiresAt = Math.min(entry.expiresAt, limit);
        if (this.#now() >= entry.expiresAt) this.#forget(key, entry);
        return answer;
      },
      (err: unknown) => {
        this.#forget(key, entry);
        throw err;
      },
    );
    this.#entries.set(key, entry);
    while (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    return entry.promise;
  }

  /** Answers held (live, expired but not yet dropped, or in flight). */
  get size(): number {
    return this.#entries.size;
  }

  /** The keys held, least recently used first (tests check what they are made of). */
  keys(): string[] {
    return [...this.#entries.keys()];
  }

  #forget(key: string, entry: Entry<V>): void {
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
  }
}
