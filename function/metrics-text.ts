// GET /metrics in the Prometheus text format (0.0.4), from the numbers metrics-recorder.ts keeps.
// Loaded by import() on the first scrape only (its own bundle chunk, with prom-client): a cold
// start never loads it. prom-client does the format (names, HELP/TYPE, label escaping, number
// rendering); its collect() callbacks read the recorder at scrape time, so nothing is counted twice.
import { Counter, Gauge, Registry, type MetricValueWithName } from 'prom-client';
import { DURATION_BUCKETS, type LastCount, type MetricsRecorder } from './metrics-recorder.ts';

export interface Exposition {
  contentType: string;
  body: string;
}

const registries = new WeakMap<MetricsRecorder, Registry>();

export async function exposition(recorder: MetricsRecorder): Promise<Exposition> {
  let registry = registries.get(recorder);
  if (!registry) {
    registry = registryFor(recorder);
    registries.set(recorder, registry);
  }
  return { contentType: registry.contentType, body: await registry.metrics() };
}

function registryFor(r: MetricsRecorder): Registry {
  const registers = [new Registry()];
  new Counter({
    name: 'podcount_invocations_total', help: 'Invocations answered (readiness probes and scrapes excluded), by HTTP status and counting strategy (none: no count was made).',
    labelNames: ['status', 'strategy'], registers,
    collect() {
      this.reset();
      for (const { status, strategy, total } of r.invocations.values()) this.inc({ status: String(status), strategy }, total);
    },
  });
  registers[0]!.registerMetric(durationHistogram(r) as never);
  counter(registers, 'podcount_api_requests_total', 'API list requests made by counts, failed ones included (a read shared by coalesced callers counts once).', () => r.apiRequests);
  counter(registers, 'podcount_api_response_bytes_total', 'Bytes of the API server\'s answers to those requests.', () => r.apiBytes);
  counter(registers, 'podcount_coalesced_callers_total', 'Callers that joined a read another caller started instead of making their own.', () => r.coalescedCallers);
  new Gauge({
    name: 'podcount_start_to_ready_seconds', help: 'Seconds from process start to listening (this instance\'s cold start inside Node); 0 until then, and under the functions-framework CLI.', registers,
    collect() {
      if (r.startToReadySeconds !== undefined) this.set(r.startToReadySeconds);
    },
  });
  // One series per scope counted, both read from the same last counts.
  const perScope = (name: string, help: string, value: (c: LastCount) => number) => new Gauge({
    name, help, labelNames: ['scope', 'namespace'], registers,
    collect() {
      this.reset();
      for (const c of r.lastCounts.values()) this.set({ scope: c.scope, namespace: c.namespace }, value(c));
    },
  });
  perScope('podcount_last_count', 'The last unfiltered count of each scope (namespace empty for the whole cluster).', (c) => c.count);
  perScope('podcount_last_count_timestamp_seconds', 'When that count was made (Unix time).', (c) => c.at);
  return registers[0]!;
}

function counter(registers: Registry[], name: string, help: string, value: () => number): void {
  new Counter({
    name, help, registers,
    collect() {
      this.reset();
      this.inc(value());
    },
  });
}

/**
 * The duration histogram, built from the recorder's bucket counts at scrape time. prom-client's
 * Histogram only takes observations one by one, so this is a collector of the shape its Registry
 * formats (the `get()` every metric has), which keeps the recorder O(1) per invocation. The Registry
 * reads only its name and get(); `aggregator` would matter only to prom-client's cluster mode.
 */
function durationHistogram(r: MetricsRecorder) {
  const name = 'podcount_invocation_duration_seconds';
  return {
    name,
    help: 'Time from request to answer, in seconds (readiness probes and scrapes excluded).',
    async get() {
      const values: MetricValueWithName<string>[] = [];
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += r.durationBuckets[i]!;
        values.push({ metricName: `${name}_bucket`, labels: { le }, value: cumulative });
      });
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: r.durationCount });
      values.push({ metricName: `${name}_sum`, labels: {}, value: r.durationSum });
      values.push({ metricName: `${name}_count`, labels: {}, value: r.durationCount });
      return { name, help: this.help, type: 'histogram', values };
    },
  };
}
