// The always-loaded recorder and the lazily loaded exposition: what is recorded comes out of
// /metrics's text, read back by an independent Prometheus text parser; and what the app feeds it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp } from '../../function/app.ts';
import { loadConfig } from '../../function/config.ts';
import { createLogger } from '../../function/log.ts';
import { DURATION_BUCKETS, MAX_SCOPES, MetricsRecorder } from '../../function/metrics-recorder.ts';
import { exposition } from '../../function/metrics-text.ts';
import { parseMetrics, sample } from '../support/prometheus.ts';
import { apiResponse, stubApi } from './stubs.ts';

test('invocations by status and strategy, durations in cumulative buckets, API requests, coalesced callers, start to ready', async () => {
  const r = new MetricsRecorder();
  r.invocation(200, 'remainingItemCount', 0.002);
  r.invocation(200, 'remainingItemCount', 0.004);
  r.invocation(200, 'paginated', 0.3);
  r.invocation(400, undefined, 0.0005);
  r.invocation(503, undefined, 60);
  r.read(1, 1230);
  r.read(2, 70_000);
  r.coalesced();
  r.coalesced();
  r.ready(0.0625);
  const { contentType, body } = await exposition(r);
  assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8');
  const m = parseMetrics(body);
  assert.equal(sample(m, 'podcount_invocations_total', { status: '200', strategy: 'remainingItemCount' }), 2);
  assert.equal(sample(m, 'podcount_invocations_total', { status: '200', strategy: 'paginated' }), 1);
  assert.equal(sample(m, 'podcount_invocations_total', { status: '400', strategy: 'none' }), 1);
  assert.equal(sample(m, 'podcount_invocations_total'), 5);
  const histogram = m.get('podcount_invocation_duration_seconds')!;
  assert.equal(histogram.type, 'HISTOGRAM');
  assert.equal(histogram.help, 'Time from request to answer, in seconds (readiness probes and scrapes excluded).');
  const { buckets, count, sum } = histogram.metrics[0]!;
  assert.equal(count, '5');
  assert.ok(Math.abs(Number(sum) - 60.3065) < 1e-9);
  assert.deepEqual(Object.keys(buckets!).sort(), [...DURATION_BUCKETS.map(String), '+Inf'].sort());
  // In the text, buckets come in increasing order of le, as the format requires.
  assert.deepEqual([...body.matchAll(/_bucket\{le="([^"]+)"\}/g)].map((x) => x[1]), [...DURATION_BUCKETS.map(String), '+Inf']);
  assert.equal(buckets!['0.001'], '1');
  assert.equal(buckets!['0.005'], '3');
  assert.equal(buckets!['0.5'], '4');
  assert.equal(buckets!['10'], '4');
  assert.equal(buckets!['+Inf'], '5');
  assert.equal(sample(m, 'podcount_api_requests_total'), 3);
  assert.equal(sample(m, 'podcount_api_response_bytes_total'), 71_230);
  assert.equal(sample(m, 'podcount_coalesced_callers_total'), 2);
  assert.equal(sample(m, 'podcount_start_to_ready_seconds'), 0.0625);
  for (const name of ['podcount_invocations_total', 'podcount_api_requests_total', 'podcount_coalesced_callers_total']) assert.equal(m.get(name)!.type, 'COUNTER');

  // A second scrape reads the numbers anew, counting nothing twice.
  r.invocation(200, 'paginated', 0.01);
  const again = parseMetrics((await exposition(r)).body);
  assert.equal(sample(again, 'podcount_invocations_total'), 6);
  assert.equal(sample(again, 'podcount_api_requests_total'), 3);
});

test('a duration exactly on a bucket\'s bound counts in that bucket (le: less than or equal)', async () => {
  const r = new MetricsRecorder();
  for (const le of DURATION_BUCKETS) r.invocation(200, 'remainingItemCount', le);
  const { buckets } = parseMetrics((await exposition(r)).body).get('podcount_invocation_duration_seconds')!.metrics[0]!;
  assert.deepEqual(DURATION_BUCKETS.map((le) => buckets![String(le)]), DURATION_BUCKETS.map((_, i) => String(i + 1)));
});

test('the last unfiltered count per scope, bounded: the least recently counted namespace goes first', async () => {
  const r = new MetricsRecorder();
  r.counted(undefined, 32, new Date(1_700_000_000_000));
  r.counted('shop', 5, new Date(1_700_000_001_000));
  r.counted('shop', 6, new Date(1_700_000_002_000));
  let m = parseMetrics((await exposition(r)).body);
  assert.equal(sample(m, 'podcount_last_count', { scope: 'cluster', namespace: '' }), 32);
  assert.equal(sample(m, 'podcount_last_count', { scope: 'namespace', namespace: 'shop' }), 6);
  assert.equal(sample(m, 'podcount_last_count_timestamp_seconds', { namespace: 'shop' }), 1_700_000_002);
  for (let i = 0; i < MAX_SCOPES; i++) r.counted(`ns-${i}`, i, new Date());
  assert.equal(r.lastCounts.size, MAX_SCOPES);
  m = parseMetrics((await exposition(r)).body);
  assert.equal(m.get('podcount_last_count')!.metrics.length, MAX_SCOPES);
  assert.equal(m.get('podcount_last_count')!.metrics.some((s) => s.labels?.['scope'] === 'cluster'), false, 'the oldest scope was dropped');
  assert.equal(m.get('podcount_last_count_timestamp_seconds')!.metrics.length, MAX_SCOPES);
  assert.equal(m.get('podcount_last_count_timestamp_seconds')!.metrics.some((s) => s.labels?.['scope'] === 'cluster'), false, 'its timestamp with it');
});

test('a scope counted again is the most recently counted: the bound drops the one counted longest ago, not the first ever counted', async () => {
  const r = new MetricsRecorder();
  r.counted(undefined, 32, new Date(1_700_000_000_000));
  for (let i = 0; i < MAX_SCOPES - 1; i++) r.counted(`ns-${i}`, i, new Date(1_700_000_000_000));
  r.counted(undefined, 33, new Date(1_700_000_009_000));
  r.counted('one-more', 1, new Date(1_700_000_010_000));
  const m = parseMetrics((await exposition(r)).body);
  assert.equal(sample(m, 'podcount_last_count', { scope: 'cluster' }), 33, 'the cluster, counted again, stays');
  assert.equal(sample(m, 'podcount_last_count_timestamp_seconds', { scope: 'cluster' }), 1_700_000_009);
  assert.equal(m.get('podcount_last_count')!.metrics.some((s) => s.labels?.['namespace'] === 'ns-0'), false, 'ns-0 was counted longest ago');
  assert.equal(sample(m, 'podcount_last_count', { namespace: 'one-more' }), 1);
});

test('start to ready is 0 until podcount\'s server listens; the first ready wins', async () => {
  const r = new MetricsRecorder();
  assert.equal(sample(parseMetrics((await exposition(r)).body), 'podcount_start_to_ready_seconds'), 0);
  r.ready(1);
  r.ready(2);
  assert.equal(r.startToReadySeconds, 1);
});

test('the app records what its counts cost the API server: every answered list request (a failed count\'s too), once per shared read, and the callers that joined it', async () => {
  const page = { kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '9', continue: 'c', remainingItemCount: 41 }, items: [{}] };
  let forbid = false;
  const api = stubApi((method) => {
    assert.equal(method, 'GET');
    return forbid ? apiResponse(403, { kind: 'Status', reason: 'Forbidden', message: 'pods is forbidden' }) : apiResponse(200, page);
  });
  const config = loadConfig({});
  const app = createApp({ config, resolution: { ok: true, target: api.target }, api, scopeNamespace: undefined, accessCheck: undefined }, createLogger('silent'));
  const bytes = apiResponse(200, page).body.length;

  // Three identical callers at once: one read, two joined it.
  const counts = await Promise.all([app.count({}), app.count({}), app.count({})]);
  assert.deepEqual(counts.map((c) => c.count), [42, 42, 42]);
  assert.deepEqual([app.metrics.apiRequests, app.metrics.apiBytes, app.metrics.coalescedCallers], [1, bytes, 2]);

  forbid = true;
  await assert.rejects(app.count({ namespace: 'shop' }), { code: 'forbidden' });
  assert.equal(app.metrics.apiRequests, 2, 'the refused list request counts too');
  assert.equal(app.metrics.coalescedCallers, 2);
});
