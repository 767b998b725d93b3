// Load: 50 and 200 concurrent callers for a fixed time (autocannon), against one warm podcount
// with 5,000 pods: throughput, latency, errors, and how many pod lists per second the API server
// saw (its own apiserver_request_total), i.e. what coalescing leaves of the load. Every row runs
// twice, side by side in the same run: callers let in (PODCOUNT_AUTH=none) and callers checked
// (PODCOUNT_AUTH=kubernetes, one ServiceAccount token for all connections), with the TokenReviews
// and SubjectAccessReviews per second the API server saw, i.e. what the review caches leave.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { ControlPlane } from '../test/support/controlplane.ts';
import { FunctionProcess } from '../test/support/function-process.ts';
import { grantPodList, setUpServiceAccount } from '../test/support/identity.ts';
import { mintToken } from '../test/support/in-cluster.ts';
import { applyManifests, parseManifests } from '../test/support/manifests.ts';
import { apiRequestCount } from '../test/support/metrics.ts';
import { createNamespace, createServiceAccount } from '../test/support/namespaces.ts';
import { createPods } from '../test/support/pods.ts';
import { round, saveResult, table } from './lib.ts';

const DURATION = Number(process.env['BENCH_LOAD_SECONDS'] ?? 10);
const PODS = 5000;
const ROWS = [[50, '/'], [200, '/'], [200, '/?labelSelector=app%3Dnone']] as const;

export type Auth = 'none' | 'kubernetes';

export interface LoadRow {
  connections: number;
  path: string;
  auth: Auth;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  apiListsPerSecond: number;
  answersPerApiList: number;
  /** TokenReviews + SubjectAccessReviews per second at the API server. */
  reviewsPerSecond: number;
}

export async function load(): Promise<void> {
  const cp = await ControlPlane.start();
  const fns: FunctionProcess[] = [];
  try {
    const sa = await setUpServiceAccount(cp, 'podcount', 'podcount', 'cluster');
    // podcount's grant to review its callers, as knative/components/caller-auth ships it.
    const rbac = parseManifests(readFileSync(join(import.meta.dirname, '..', 'knative/components/caller-auth/rbac.yaml'), 'utf8'));
    await applyManifests(cp, rbac.filter((o) => o.metadata.name === 'podcount-caller-reviews'));
    // One caller allowed to list pods everywhere, with a token for podcount.
    await createNamespace(cp, 'callers');
    await createServiceAccount(cp, 'callers', 'bench');
    await grantPodList(cp, 'callers', 'bench', 'cluster');
    const token = await mintToken(cp, 'callers', 'bench', { audiences: ['podcount'] });
    await createPods(cp, 'load', PODS, { concurrency: 64 });
    const started = {} as Record<Auth, FunctionProcess>;
    for (const auth of ['none', 'kubernetes'] as const) {
      started[auth] = await FunctionProcess.start({ env: { ...sa.env, PODCOUNT_LOG_LEVEL: 'warn', PODCOUNT_AUTH: auth } });
      fns.push(started[auth]);
    }
    const reviews = async () => (await apiRequestCount(cp, { verb: 'POST', resource: 'tokenreviews' })) + (await apiRequestCount(cp, { verb: 'POST', resource: 'subjectaccessreviews' }));
    const results: LoadRow[] = [];
    for (const [connections, path] of ROWS) {
      // Side by side: the same row with callers let in, then checked, one process busy at a time.
      for (const auth of ['none', 'kubernetes'] as const) {
        const before = { lists: await apiRequestCount(cp, { verb: 'LIST', resource: 'pods' }), reviews: await reviews() };
        const headers = auth === 'kubernetes' ? { authorization: `Bearer ${token}` } : {};
        const r = await autocannon({ url: `${started[auth].url}${path}`, connections, duration: DURATION, headers });
        const lists = (await apiRequestCount(cp, { verb: 'LIST', resource: 'pods' })) - before.lists;
        results.push({
          connections, path, auth, seconds: DURATION, requestsPerSecond: round(r.requests.average), p50Ms: r.latency.p50, p99Ms: r.latency.p99,
          errors: r.errors + r.timeouts + r.non2xx, apiListsPerSecond: round(lists / DURATION), answersPerApiList: round(r.requests.total / Math.max(lists, 1)),
          reviewsPerSecond: round(((await reviews()) - before.reviews) / DURATION, 2),
        });
      }
    }
    table(`Load: ${DURATION} s per row, ${PODS} pods, one podcount instance per auth mode`, ['callers', 'query', 'auth', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'API lists/s', 'answers per list', 'reviews/s'],
      results.map((r) => [r.connections, r.path, r.auth, r.requestsPerSecond, r.p50Ms, r.p99Ms, r.errors, r.apiListsPerSecond, r.answersPerApiList, r.reviewsPerSecond]));
    saveResult('load', { pods: PODS, results });
    sa.cleanup();
  } finally {
    for (const fn of fns) await fn.stop();
    await cp.stop();
  }
}

if (import.meta.main) await load();
