// What /metrics reports, kept as plain numbers from the first request on. Always loaded and O(1)
// per invocation (a few additions, no dependency); turning these numbers into the Prometheus text
// format is metrics-text.ts's job, loaded by the first scrape only, so a cold start never pays for it.

/** Upper bounds (seconds) of the invocation duration histogram: a warm count is ms, a cold one or a big filtered one up to seconds. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Namespaces whose last count is kept: a caller may name any namespace, and memory must stay bounded. */
export const MAX_SCOPES = 256;

export interface InvocationKey {
  status: number;
  /** How the count was made; 'none' when the invocation did not count (an error, /diagnostics). */
  strategy: string;
}

export interface LastCount {
  scope: 'cluster' | 'namespace';
  /** '' for the cluster scope. */
  namespace: string;
  count: number;
  /** Unix time in seconds. */
  at: number;
}

export class MetricsRecorder {
  /** By `${status} ${strategy}`. */
  readonly invocations = new Map<string, InvocationKey & { total: number }>();
  /** Non-cumulative: durationBuckets[i] counts invocations in (DURATION_BUCKETS[i-1], DURATION_BUCKETS[i]]; the last slot is +Inf. */
  readonly durationBuckets: number[] = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  durationSum = 0;
  durationCount = 0;
  /** List requests made by counts (each read once, however many callers shared it) and the bytes they received. */
  apiRequests = 0;
  apiBytes = 0;
  /** Callers that joined a read another caller started instead of making their own. */
  coalescedCallers = 0;
  /** Seconds from process start (performance.timeOrigin) to listening; undefined until then. */
  startToReadySeconds: number | undefined;
  /** The last unfiltered count per scope, least recently updated first. */
  readonly lastCounts = new Map<string, LastCount>();

  /** An invocation ended (every request but readiness probes and scrapes). */
  invocation(status: number, strategy: string | undefined, seconds: number): void {
    const s = strategy ?? 'none';
    const key = `${status} ${s}`;
    const entry = this.invocations.get(key);
    if (entry) entry.total += 1;
    else this.invocations.set(key, { status, strategy: s, total: 1 });
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i += 1;
    this.durationBuckets[i]! += 1;
    this.durationSum += seconds;
    this.durationCount += 1;
  }

  /** A read went to the API server and came back with a count. */
  read(apiRequests: number, apiBytes: number): void {
    this.apiRequests += apiRequests;
    this.apiBytes += apiBytes;
  }

  coalesced(): void {
    this.coalescedCallers += 1;
  }

  /** A count of a whole scope (no selectors): what a dashboard graphs as "pods in X". */
  counted(namespace: string | undefined, count: number, at: Date): void {
    const key = namespace ?? '';
    this.lastCounts.delete(key);
    this.lastCounts.set(key, { scope: namespace === undefined ? 'cluster' : 'namespace', namespace: key, count, at: at.getTime() / 1000 });
    if (this.lastCounts.size > MAX_SCOPES) this.lastCounts.delete(this.lastCounts.keys().next().value!);
  }

  ready(secondsSinceStart: number): void {
    this.startToReadySeconds ??= secondsSinceStart;
  }
}
