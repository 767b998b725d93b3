// The request path in-process: createHandler behind podcount's own server, with a stub app whose
// count() the test controls (the Knative func templates test their handler the same way).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HTTP, type CloudEvent } from 'cloudevents';
import { unavailable } from '../../function/errors.ts';
import { parseMetrics, sample } from '../support/prometheus.ts';
import { COUNTED, stubApp, withServer } from './stubs.ts';

const ce = { 'ce-specversion': '1.0', 'ce-id': 'req-1', 'ce-source': '/apis/v1/namespaces/podcount/pingsources/tick', 'ce-type': 'dev.podcount.count.requested' };

test('GET / answers the count as JSON, narrowed as asked, and logs one invocation line', async () => {
  const app = stubApp();
  await withServer(app, async (url) => {
    const res = await fetch(`${url}/?namespace=shop&labelSelector=app%3Dweb`, { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = await res.json() as Record<string, unknown>;
    assert.ok(Date.now() - Date.parse(String(body['countedAt'])) < 60_000);
    assert.deepEqual({ ...body, countedAt: 'x' }, { count: 32, scope: 'namespace', namespace: 'shop', labelSelector: 'app=web', fieldSelector: null, resourceVersion: '7', countedAt: 'x', strategy: 'remainingItemCount' });
    assert.deepEqual(app.calls.count, [{ namespace: 'shop', labelSelector: 'app=web', fieldSelector: undefined }]);
  });
  const lines = app.lines.filter((l) => l.msg === 'invocation');
  assert.equal(lines.length, 1);
  const { time, durationMs, spanId, ...line } = lines[0]!;
  assert.equal(typeof durationMs, 'number');
  // podcount's own span in the caller's trace: a fresh id, the caller's span as its parent.
  assert.match(String(spanId), /^[0-9a-f]{16}$/);
  assert.notEqual(spanId, '00f067aa0ba902b7');
  assert.deepEqual(line, {
    level: 'info', service: 'podcount', msg: 'invocation', method: 'GET', path: '/', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7',
    count: 32, scope: 'namespace', namespace: 'shop', strategy: 'remainingItemCount', apiRequests: 1, apiBytes: 1200, labelSelector: 'app=web', status: 200,
  });
});

test('Accept: text/plain gets the sentence; an Accept it cannot meet gets 406', async () => {
  await withServer(stubApp(), async (url) => {
    const text = await fetch(`${url}/`, { headers: { accept: 'text/plain' } });
    assert.match(text.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await text.text(), 'There are 32 pods in the cluster\n');
    const png = await fetch(`${url}/`, { headers: { accept: 'image/png' } });
    assert.equal(png.status, 406);
    assert.equal((await png.json() as { error: { code: string } }).error.code, 'not_acceptable');
  });
});

test('a count that recovered from a 401 by re-reading the token says so in its log line, others do not', async () => {
  let reloaded = true;
  const app = stubApp({ count: async () => ({ ...COUNTED, credentialsReloaded: reloaded }) });
  await withServer(app, async (url) => {
    await (await fetch(`${url}/`)).text();
    reloaded = false;
    await (await fetch(`${url}/`)).text();
  });
  assert.deepEqual(app.lines.filter((l) => l.msg === 'invocation').map((l) => l['credentialsReloaded']), [true, undefined]);
});

test('a CloudEvent gets a binary CloudEvent reply from this Knative Service, answering that event', async () => {
  const app = stubApp({ env: { K_SERVICE: 'pc', PODCOUNT_REPLY_TYPE: 'com.example.counted' }, ownNamespace: 'team-a' });
  await withServer(app, async (url) => {
    const res = await fetch(`${url}/?labelSelector=app%3Dweb`, { method: 'POST', headers: { ...ce, 'content-type': 'application/json' }, body: '{"namespace":"shop"}' });
    assert.equal(res.status, 200);
    const event = HTTP.toEvent({ headers: Object.fromEntries(res.headers.entries()), body: await res.text() }) as CloudEvent<Record<string, unknown>>;
    assert.equal(event.validate(), true);
    assert.equal(event.type, 'com.example.counted');
    assert.equal(event.source, '/apis/serving.knative.dev/v1/namespaces/team-a/services/pc');
    assert.equal(event.subject, 'namespace');
    assert.notEqual(event.id, ce['ce-id']);
    assert.deepEqual(event.data?.['inResponseTo'], { id: ce['ce-id'], source: ce['ce-source'], type: ce['ce-type'] });
    assert.equal(event.data?.['count'], 32);
    const line = app.lines.find((l) => l.msg === 'invocation')!;
    assert.deepEqual([line['eventId'], line['eventType'], line['replyId']], [ce['ce-id'], ce['ce-type'], event.id]);
  });
  assert.deepEqual(app.calls.count, [{ namespace: 'shop', labelSelector: 'app=web', fieldSelector: undefined }], 'URL and event data narrow together');
});

test('URL and event data that contradict each other are a 400 before any count', async () => {
  const app = stubApp();
  await withServer(app, async (url) => {
    const res = await fetch(`${url}/?namespace=a`, { method: 'POST', headers: { ...ce, 'content-type': 'application/json' }, body: '{"namespace":"b"}' });
    assert.equal(res.status, 400);
    assert.equal((await res.json() as { error: { code: string } }).error.code, 'bad_parameter');
  });
  assert.deepEqual(app.calls.count, []);
});

test('a failed count answers its PodcountError; a bug answers 500 internal and is logged as an error', async () => {
  let failure: unknown = unavailable('The API server failed with 500: etcd', 'Retry.', 4);
  const app = stubApp({ count: () => Promise.reject(failure) });
  await withServer(app, async (url) => {
    const down = await fetch(`${url}/`);
    assert.equal(down.status, 503);
    assert.equal(down.headers.get('retry-after'), '4');
    assert.equal((await down.json() as { error: { code: string } }).error.code, 'cluster_unavailable');
    failure = new TypeError('x is undefined');
    const bug = await fetch(`${url}/`);
    assert.equal(bug.status, 500);
    assert.equal((await bug.json() as { error: { code: string } }).error.code, 'internal');
  });
  assert.deepEqual(app.lines.filter((l) => l.msg === 'invocation').map((l) => [l['status'], l['error']]), [[503, 'cluster_unavailable'], [500, 'internal']]);
  assert.equal(app.lines.filter((l) => l.level === 'error' && l.msg === 'unexpected failure while answering').length, 1);
});

test('routes: /healthz (a probe, logged at debug), 404, 405 with Allow, /diagnostics switched off', async () => {
  const app = stubApp({ env: { PODCOUNT_DIAGNOSTICS: 'off' } });
  await withServer(app, async (url) => {
    const health = await fetch(`${url}/healthz`);
    assert.deepEqual([health.status, await health.json()], [200, { status: 'ok' }]);
    assert.equal((await fetch(`${url}/pods`)).status, 404);
    const del = await fetch(`${url}/`, { method: 'DELETE' });
    assert.deepEqual([del.status, del.headers.get('allow')], [405, 'GET, HEAD, POST, OPTIONS']);
    assert.equal((await fetch(`${url}/diagnostics`)).status, 404);
  });
  assert.deepEqual(app.lines.find((l) => l['path'] === '/healthz')?.level, 'debug');
  assert.deepEqual(app.calls.count, [], 'none of these counts');
});

test('namespace scope without a known namespace answers 503 no_cluster_config', async () => {
  await withServer(stubApp({ env: { PODCOUNT_SCOPE: 'namespace' } }), async (url) => {
    const res = await fetch(`${url}/`);
    assert.equal(res.status, 503);
    assert.equal((await res.json() as { error: { code: string } }).error.code, 'no_cluster_config');
  });
});

test('OPTIONS answers CloudEvents webhook validation: the origin and any rate allowed, only when asked', async () => {
  await withServer(stubApp(), async (url) => {
    const asked = await fetch(`${url}/`, { method: 'OPTIONS', headers: { 'webhook-request-origin': 'eventing.example.com' } });
    assert.equal(asked.status, 204);
    assert.deepEqual([asked.headers.get('allow'), asked.headers.get('webhook-allowed-origin'), asked.headers.get('webhook-allowed-rate')], ['GET, HEAD, POST, OPTIONS', 'eventing.example.com', '*']);
    assert.equal(await asked.text(), '');
    const plain = await fetch(`${url}/`, { method: 'OPTIONS' });
    assert.deepEqual([plain.status, plain.headers.get('webhook-allowed-origin'), plain.headers.get('webhook-allowed-rate')], [204, null, null]);
  });
});

test('methods: /healthz and /diagnostics answer GET and HEAD only; a POST without a CloudEvent counts from the URL', async () => {
  const app = stubApp({ api: undefined });
  await withServer(app, async (url) => {
    assert.equal((await fetch(`${url}/healthz`, { method: 'HEAD' })).status, 200);
    for (const path of ['/healthz', '/diagnostics']) {
      const post = await fetch(`${url}${path}`, { method: 'POST', body: '' });
      assert.deepEqual([post.status, post.headers.get('allow')], [405, 'GET, HEAD'], path);
    }
    assert.equal((await fetch(`${url}/diagnostics`, { method: 'HEAD' })).status, 200);
    assert.equal((await fetch(`${url}/`, { method: 'HEAD' })).status, 200);
    const post = await fetch(`${url}/?namespace=a`, { method: 'POST', body: '{"namespace":"b"}', headers: { 'content-type': 'application/json' } });
    assert.equal(post.status, 200);
    assert.equal((await post.json() as { namespace: string }).namespace, 'a', 'a plain JSON body is not event data');
  });
});

test('the invocation line: the path capped at 200 characters without its query, only a valid trace continued, the error\'s detail, the selectors', async () => {
  const { unavailable } = await import('../../function/errors.ts');
  const failure = unavailable('down', 'retry');
  failure.detail = `d${'x'.repeat(400)}`;
  let fail = false;
  const app = stubApp({ count: (q) => (fail ? Promise.reject(failure) : Promise.resolve({ ...COUNTED, count: q.fieldSelector ? 1 : 2 })) });
  await withServer(app, async (url) => {
    await fetch(`${url}/${'p'.repeat(300)}?secret=1`, { headers: { traceparent: 'not-a-trace' } });
    await fetch(`${url}/?fieldSelector=status.phase%3DRunning`, { headers: { traceparent: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01' } });
    fail = true;
    await fetch(`${url}/`);
  });
  const [long, fields, failed] = app.lines.filter((l) => l.msg === 'invocation');
  assert.equal(long!['path'], `/${'p'.repeat(199)}`);
  assert.deepEqual([fields!['fieldSelector'], 'labelSelector' in fields!], ['status.phase=Running', false]);
  assert.notEqual(fields!['traceId'], '4bf92f3577b34da6a3ce929d0e0e4736', 'a trace id in upper case is not a W3C trace id: not continued');
  assert.equal(failed!['errorDetail'], failure.detail.slice(0, 300));
  for (const l of [long, fields, failed]) assert.ok(typeof l!['durationMs'] === 'number' && l!['durationMs'] >= 0);
});

test('GET /metrics: the Prometheus text of what was answered; scrapes and probes are not invocations; PODCOUNT_METRICS=off is 404', async () => {
  const app = stubApp();
  await withServer(app, async (url) => {
    await (await fetch(`${url}/`)).text();
    await (await fetch(`${url}/?namespace=shop`)).text();
    await (await fetch(`${url}/?namespace=Bad_Name`)).text();
    await (await fetch(`${url}/healthz`)).text();
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const m = parseMetrics(await res.text());
    assert.equal(sample(m, 'podcount_invocations_total', { status: '200', strategy: 'remainingItemCount' }), 2);
    assert.equal(sample(m, 'podcount_invocations_total', { status: '400', strategy: 'none' }), 1);
    assert.equal(sample(m, 'podcount_invocations_total'), 3);
    assert.equal(sample(m, 'podcount_invocation_duration_seconds'), 3);
    assert.equal(sample(m, 'podcount_last_count', { scope: 'cluster' }), 32);
    assert.equal(sample(m, 'podcount_last_count', { scope: 'namespace', namespace: 'shop' }), 32);
    assert.equal(sample(parseMetrics(await (await fetch(`${url}/metrics`)).text()), 'podcount_invocations_total'), 3, 'the first scrape is not counted');
    const post = await fetch(`${url}/metrics`, { method: 'POST' });
    assert.deepEqual([post.status, post.headers.get('allow')], [405, 'GET, HEAD']);
  });
  assert.equal(app.lines.filter((l) => l.msg === 'scrape' && l.level === 'debug').length, 2);
  assert.equal(app.lines.filter((l) => l['path'] === '/metrics' && l.msg === 'invocation').length, 1, 'a refused scrape is worth an info line');
  await withServer(stubApp({ env: { PODCOUNT_METRICS: 'off' } }), async (url) => {
    const off = await fetch(`${url}/metrics`);
    assert.equal(off.status, 404);
    assert.equal((await off.json() as { error: { code: string } }).error.code, 'not_found');
  });
});

test('a CloudEvent\'s reply carries podcount\'s span as a child traceparent, and the tracestate it came with', async () => {
  const app = stubApp();
  const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  await withServer(app, async (url) => {
    const res = await fetch(`${url}/`, { method: 'POST', headers: { ...ce, 'ce-traceparent': parent, 'ce-tracestate': 'rojo=1' } });
    assert.equal(res.status, 200);
    const span = app.lines.find((l) => l.msg === 'invocation')!;
    assert.deepEqual([span['traceId'], span['parentSpanId']], ['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7']);
    assert.equal(res.headers.get('ce-traceparent'), `00-4bf92f3577b34da6a3ce929d0e0e4736-${String(span['spanId'])}-01`);
    assert.equal(res.headers.get('ce-tracestate'), 'rojo=1');
    assert.equal(res.headers.get('traceparent'), null, 'no traceparent response header');
  });
});
