// GET /metrics from the spawned function against the real API server: Prometheus text whose
// numbers are what was done (invocations, their log lines' API requests and bytes, the last
// counts as the API truth, coalesced callers in a burst, start to ready), and PODCOUNT_METRICS=off.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { concurrentRequests } from '../support/burst.ts';
import { usePodcount } from '../support/fixture.ts';
import { FunctionProcess } from '../support/function-process.ts';
import { createNamespace } from '../support/namespaces.ts';
import { apiTruthCount, createPods } from '../support/pods.ts';
import { waitFor } from '../support/poll.ts';
import { parseMetrics, sample } from '../support/prometheus.ts';

describe('GET /metrics', () => {
  const pc = usePodcount({
    seed: async (cp) => {
      await createNamespace(cp, 'shop');
      await createPods(cp, 'shop', 7, { labels: { app: 'web' } });
      await createPods(cp, 'podcount', 2);
    },
  });

  async function scrape(fn = pc.fn) {
    const res = await fn.get('/metrics');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    return parseMetrics(await res.text());
  }

  test('three counts: invocations 3, API requests and bytes as their log lines say, the last count of each scope as the API truth', async () => {
    const fn = await pc.startFunction();
    const queries = ['/', '/?namespace=shop', '/?namespace=shop&labelSelector=app%3Dweb'];
    for (const q of queries) assert.equal((await fn.get(q)).status, 200, q);
    // A line is written just after its answer: wait for the third.
    const lines = await waitFor(() => { const l = fn.logs.filter((x) => x.msg === 'invocation'); return l.length === 3 && l; }, { timeoutMs: 5000, what: 'three invocation lines' });
    const m = await scrape(fn);
    assert.equal(sample(m, 'podcount_invocations_total'), 3);
    assert.equal(sample(m, 'podcount_invocations_total', { status: '200', strategy: 'remainingItemCount' }), 2);
    assert.equal(sample(m, 'podcount_invocations_total', { status: '200', strategy: 'single-page' }), 1);
    assert.equal(sample(m, 'podcount_invocation_duration_seconds'), 3);
    assert.equal(sample(m, 'podcount_api_requests_total'), lines.reduce((n, l) => n + Number(l['apiRequests']), 0));
    assert.equal(sample(m, 'podcount_api_response_bytes_total'), lines.reduce((n, l) => n + Number(l['apiBytes']), 0));
    assert.equal(sample(m, 'podcount_coalesced_callers_total'), 0);
    assert.equal(sample(m, 'podcount_last_count', { scope: 'cluster', namespace: '' }), await apiTruthCount(pc.cp, {}));
    assert.equal(sample(m, 'podcount_last_count', { scope: 'namespace', namespace: 'shop' }), 7);
    assert.equal(m.get('podcount_last_count')!.metrics.length, 2, 'a filtered count is not a scope\'s count');
    const ready = sample(m, 'podcount_start_to_ready_seconds');
    assert.ok(ready > 0 && ready < 60, `start to ready ${ready} s`);
    // A failed count is an invocation too, by its status, without a strategy.
    assert.equal((await fn.get('/?namespace=Bad')).status, 400);
    assert.equal(sample(await scrape(fn), 'podcount_invocations_total', { status: '400', strategy: 'none' }), 1);
  });

  test('a burst of identical callers: every caller is an invocation, and those that joined another\'s read are the coalesced callers', async () => {
    const fn = await pc.startFunction();
    const before = await scrape(fn);
    const answers = await concurrentRequests(fn, '/?namespace=shop', { callers: 50 });
    assert.ok(answers.every((a) => a.status === 200));
    const after = await scrape(fn);
    const delta = (name: string) => sample(after, name) - sample(before, name);
    const reads = delta('podcount_api_requests_total'); // one list request per unfiltered read
    assert.equal(delta('podcount_invocations_total'), 50);
    assert.ok(reads >= 1 && reads <= 2, `${reads} reads`);
    assert.equal(delta('podcount_coalesced_callers_total'), 50 - reads);
  });

  test('PODCOUNT_METRICS=off: /metrics is 404; counts are unaffected', async () => {
    const fn = await pc.startFunction({ PODCOUNT_METRICS: 'off' });
    const res = await fn.get('/metrics');
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
    assert.equal((await fn.get('/')).status, 200);
  });

  test('an invalid PODCOUNT_METRICS stops the start with one line naming it', async () => {
    const fn = await FunctionProcess.start({ env: { ...pc.sa.env, PODCOUNT_METRICS: 'sometimes' }, waitReady: false });
    const { code } = await fn.exited;
    assert.equal(code, 1);
    assert.equal(fn.stderr, 'podcount: invalid configuration: PODCOUNT_METRICS="sometimes" must be on or off\n');
  });
});
