// Load: 50 and 200 concurrent callers for a fixed time (autocannon), against one warm podcount
// with 5,000 pods: throughput, latency, errors, and how many pod lists per second the API server
// saw (its own apiserver_request_total), i.e. what coalescing leaves of the load.
import autocannon from 'autocannon';
import { ControlPlane } from '../test/support/controlplane.ts';
import { FunctionProcess } from '../test/support/function-process.ts';
import { setUpServiceAccount } from '../test/support/identity.ts';
import { apiRequestCount } from '../test/support/metrics.ts';
import { createPods } from '../test/support/pods.ts';
import { round, saveResult, table } from './lib.ts';

const DURATION = Number(process.env['BENCH_LOAD_SECONDS'] ?? 10);
const PODS = 5000;

export async function load(): Promise<void> {
  const cp = await ControlPlane.start();
  let fn: FunctionProcess | undefined;
  try {
    const sa = await setUpServiceAccount(cp, 'podcount', 'podcount', 'cluster');
    await createPods(cp, 'load', PODS, { concurrency: 64 });
    fn = await FunctionProcess.start({ env: { ...sa.env, PODCOUNT_LOG_LEVEL: 'warn' } });
    const results = [];
    for (const [connections, path] of [[50, '/'], [200, '/'], [200, '/?labelSelector=app%3Dnone']] as const) {
      const before = await apiRequestCount(cp, { verb: 'LIST', resource: 'pods' });
      const r = await autocannon({ url: `${fn.url}${path}`, connections, duration: DURATION });
      const lists = (await apiRequestCount(cp, { verb: 'LIST', resource: 'pods' })) - before;
      results.push({
        connections, path, seconds: DURATION, requestsPerSecond: round(r.requests.average), p50Ms: r.latency.p50, p99Ms: r.latency.p99,
        errors: r.errors + r.timeouts + r.non2xx, apiListsPerSecond: round(lists / DURATION), answersPerApiList: round(r.requests.total / Math.max(lists, 1)),
      });
    }
    table(`Load: ${DURATION} s per row, ${PODS} pods, one podcount instance`, ['callers', 'query', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'API lists/s', 'answers per list'],
      results.map((r) => [r.connections, r.path, r.requestsPerSecond, r.p50Ms, r.p99Ms, r.errors, r.apiListsPerSecond, r.answersPerApiList]));
    saveResult('load', { pods: PODS, results });
    sa.cleanup();
  } finally {
    await fn?.stop();
    await cp.stop();
  }
}

if (import.meta.main) await load();
