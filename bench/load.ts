// Load: 50 and 200 concurrent callers (autocannon), against one warm podcount with 5,000 pods:
// throughput, latency, errors, and how many pod lists per second the API server saw (its own
// apiserver_request_total), i.e. what coalescing leaves of the load. Every row runs twice, side by
// side in the same run: callers let in (PODCOUNT_AUTH=none) and callers checked
// (PODCOUNT_AUTH=kubernetes, one ServiceAccount token for all connections), with the TokenReviews
// and SubjectAccessReviews per second the API server saw, i.e. what the review caches leave.
// Each is the median of short rounds that alternate between the two (a shared 2-core machine's
// background load drifts; alternating spreads it over both).
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
import { median, round, saveResult, table } from './lib.ts';

/** Per row and mode: ROUNDS rounds of ROUND_SECONDS, the modes alternating. */
const ROUNDS = Number(process.env['BENCH_LOAD_ROUNDS'] ?? 5);
const ROUND_SECONDS = Number(process.env['BENCH_LOAD_SECONDS'] ?? 3);
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
    // Warm both alike (JIT, kept-alive connections, the review caches), so no row pays for being first.
    for (const auth of ['none', 'kubernetes'] as const) {
      await autocannon({ url: `${started[auth].url}/`, connections: 50, duration: 2, headers: auth === 'kubernetes' ? { authorization: `Bearer ${token}` } : {} });
    }
    const reviews = async () => (await apiRequestCount(cp, { verb: 'POST', resource: 'tokenreviews' })) + (await apiRequestCount(cp, { verb: 'POST', resource: 'subjectaccessreviews' }));
    const results: LoadRow[] = [];
    for (const [connections, path] of ROWS) {
      // Side by side: short rounds, alternating which mode goes first, one process busy at a
      // time, so a change in the machine's background load falls on both modes alike.
      const rounds = { none: [] as autocannon.Result[], kubernetes: [] as autocannon.Result[] };
      const totals = { none: { lists: 0, reviews: 0 }, kubernetes: { lists: 0, reviews: 0 } };
      for (let round = 0; round < ROUNDS; round++) {
        for (const auth of round % 2 ? (['kubernetes', 'none'] as const) : (['none', 'kubernetes'] as const)) {
          const before = { lists: await apiRequestCount(cp, { verb: 'LIST', resource: 'pods' }), reviews: await reviews() };
          const headers = auth === 'kubernetes' ? { authorization: `Bearer ${token}` } : {};
          rounds[auth].push(await autocannon({ url: `${started[auth].url}${path}`, connections, duration: ROUND_SECONDS, headers }));
          totals[auth].lists += (await apiRequestCount(cp, { verb: 'LIST', resource: 'pods' })) - before.lists;
          totals[auth].reviews += (await reviews()) - before.reviews;
        }
      }
      for (const auth of ['none', 'kubernetes'] as const) {
        const rs = rounds[auth];
        const seconds = ROUNDS * ROUND_SECONDS;
        const requests = rs.reduce((n, r) => n + r.requests.total, 0);
        results.push({
          connections, path, auth, seconds, requestsPerSecond: round(median(rs.map((r) => r.requests.average))),
          p50Ms: median(rs.map((r) => r.latency.p50)), p99Ms: median(rs.map((r) => r.latency.p99)),
          errors: rs.reduce((n, r) => n + r.errors + r.timeouts + r.non2xx, 0),
          apiListsPerSecond: round(totals[auth].lists / seconds), answersPerApiList: round(requests / Math.max(totals[auth].lists, 1)),
          reviewsPerSecond: round(totals[auth].reviews / seconds, 2),
        });
      }
    }
    table(`Load: ${ROUNDS} rounds of ${ROUND_SECONDS} s per row and mode (medians), ${PODS} pods, one podcount instance per auth mode`, ['callers', 'query', 'auth', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'API lists/s', 'answers per list', 'reviews/s'],
      results.map((r) => [r.connections, r.path, r.auth, r.requestsPerSecond, r.p50Ms, r.p99Ms, r.errors, r.apiListsPerSecond, r.answersPerApiList, r.reviewsPerSecond]));
    saveResult('load', { pods: PODS, rounds: ROUNDS, roundSeconds: ROUND_SECONDS, results });
    sa.cleanup();
  } finally {
    for (const fn of fns) await fn.stop();
    await cp.stop();
  }
}

if (import.meta.main) await load();
