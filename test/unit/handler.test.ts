// The request path in-process: createHandler behind podcount's own server, with a stub app whose
// count() the test controls (the Knative func templates test their handler the same way).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { HTTP, type CloudEvent } from 'cloudevents';
import type { CallerAuth, CheckedCaller } from '../../function/caller-auth.ts';
import { callerForbidden, callerUnauthenticated, unavailable } from '../../function/errors.ts';
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
    const { error } = await png.json() as { error: { code: string; message: string } };
    assert.deepEqual([error.code, error.message], ['not_acceptable', 'Cannot answer in "image/png".'], 'the message names the Accept that cannot be met');
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
  // Only the bug is logged as an error, with what failed (its message and stack) for whoever fixes it.
  const errors = app.lines.filter((l) => l.level === 'error');
  assert.deepEqual(errors.map((l) => l.msg), ['unexpected failure while answering']);
  const err = errors[0]!['err'] as { type: string; message: string; stack: string };
  assert.deepEqual([err.type, err.message], ['TypeError', 'x is undefined']);
  assert.match(err.stack, /^TypeError: x is undefined\n/);
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
  const probe = app.lines.find((l) => l['path'] === '/healthz');
  assert.deepEqual([probe?.level, probe?.msg], ['debug', 'probe']);
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
    assert.equal(asked.headers.get('content-length'), '0', 'a 204 declares no body');
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
  assert.equal(long!['traceparentIgnored'], 'header traceparent "not-a-trace" is not a valid W3C traceparent', 'the line says which traceparent was ignored');
  assert.equal('traceparentIgnored' in failed!, false, 'nothing ignored, nothing said');
  assert.equal(failed!['errorDetail'], failure.detail.slice(0, 300));
  for (const l of [long, fields, failed]) assert.ok(typeof l!['durationMs'] === 'number' && l!['durationMs'] >= 0);
});

test('GET /metrics: the Prometheus text of what was answered; scrapes and probes are not invocations; PODCOUNT_METRICS=off is 404', async () => {
  let counted = 32;
  const app = stubApp({ count: async () => ({ ...COUNTED, count: counted }) });
  await withServer(app, async (url) => {
    await (await fetch(`${url}/`)).text();
    await (await fetch(`${url}/?namespace=shop`)).text();
    counted = 7; // counts narrowed by a selector are not the scope's count
    await (await fetch(`${url}/?namespace=shop&labelSelector=app%3Dweb`)).text();
    await (await fetch(`${url}/?fieldSelector=status.phase%3DRunning`)).text();
    await (await fetch(`${url}/?namespace=Bad_Name`)).text();
    await (await fetch(`${url}/healthz`)).text();
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const m = parseMetrics(await res.text());
    assert.equal(sample(m, 'podcount_invocations_total', { status: '200', strategy: 'remainingItemCount' }), 4);
    assert.equal(sample(m, 'podcount_invocations_total', { status: '400', strategy: 'none' }), 1);
    assert.equal(sample(m, 'podcount_invocations_total'), 5);
    assert.equal(sample(m, 'podcount_invocation_duration_seconds'), 5);
    assert.equal(sample(m, 'podcount_last_count', { scope: 'cluster' }), 32);
    assert.equal(sample(m, 'podcount_last_count', { scope: 'namespace', namespace: 'shop' }), 32);
    assert.equal(m.get('podcount_last_count')!.metrics.length, 2, 'only the two unfiltered counts');
    assert.equal(sample(parseMetrics(await (await fetch(`${url}/metrics`)).text()), 'podcount_invocations_total'), 5, 'the first scrape is not counted');
    const head = await fetch(`${url}/metrics`, { method: 'HEAD' });
    assert.deepEqual([head.status, head.headers.get('content-type')], [200, 'text/plain; version=0.0.4; charset=utf-8']);
    const post = await fetch(`${url}/metrics`, { method: 'POST' });
    assert.deepEqual([post.status, post.headers.get('allow')], [405, 'GET, HEAD']);
  });
  assert.equal(app.lines.filter((l) => l.msg === 'scrape' && l.level === 'debug').length, 3);
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

test('a reply\'s trace continues the HTTP traceparent and tracestate headers; without a tracestate the reply carries the traceparent alone', async () => {
  const app = stubApp();
  const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  await withServer(app, async (url) => {
    const withState = await fetch(`${url}/`, { method: 'POST', headers: { ...ce, traceparent: parent, tracestate: 'rojo=1' } });
    assert.equal(withState.status, 200);
    assert.match(withState.headers.get('ce-traceparent') ?? '', /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    assert.equal(withState.headers.get('ce-tracestate'), 'rojo=1');
    const alone = await fetch(`${url}/`, { method: 'POST', headers: { ...ce, traceparent: parent } });
    assert.equal(alone.status, 200);
    assert.match(alone.headers.get('ce-traceparent') ?? '', /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    assert.equal(alone.headers.get('ce-tracestate'), null);
  });
});

test('the invocation line\'s durationMs is the time from request to answer in ms (to 0.1 ms), and the histogram gets it in seconds', async (t) => {
  // podcount's clock, moved by the count only: the duration is what the count took, to the digit.
  let clock = 1000;
  t.mock.method(performance, 'now', () => clock);
  const app = stubApp({ count: async () => { clock += 234.56; return COUNTED; } });
  let text = '';
  await withServer(app, async (url) => {
    assert.equal((await fetch(`${url}/`)).status, 200);
    text = await (await fetch(`${url}/metrics`)).text();
  });
  t.mock.restoreAll();
  assert.equal(app.lines.find((l) => l.msg === 'invocation')!['durationMs'], 234.6);
  const { buckets, sum } = parseMetrics(text).get('podcount_invocation_duration_seconds')!.metrics[0]!;
  assert.deepEqual([buckets!['0.1'], buckets!['0.25']], ['0', '1']);
  assert.ok(Math.abs(Number(sum) - 0.23456) < 1e-9, String(sum));
});

test('the log line names the breakdown a count was grouped by', async () => {
  const app = stubApp({ count: async () => ({ ...COUNTED, groups: { Running: 30, Pending: 2 } }) });
  await withServer(app, async (url) => {
    assert.equal((await fetch(`${url}/?groupBy=phase`)).status, 200);
  });
  assert.equal(app.lines.find((l) => l.msg === 'invocation')!['groupBy'], 'phase');
});

test('only a POST carries a CloudEvent: a GET with ce- headers is a plain count of its URL', async () => {
  const app = stubApp();
  await withServer(app, async (url) => {
    const res = await fetch(`${url}/?namespace=shop`, { headers: ce });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('ce-id'), null, 'no CloudEvent reply');
    assert.equal((await res.json() as { namespace: string }).namespace, 'shop');
  });
  assert.equal(app.lines.find((l) => l.msg === 'invocation')!['eventId'], undefined);
});

test('a bad field is named with where it came from: the query or the event data', async () => {
  await withServer(stubApp(), async (url) => {
    const query = await (await fetch(`${url}/?colour=red`)).json() as { error: { code: string; message: string } };
    assert.deepEqual([query.error.code, query.error.message], ['unknown_parameter', 'Unknown query field "colour".']);
    const event = await (await fetch(`${url}/`, { method: 'POST', headers: { ...ce, 'content-type': 'application/json' }, body: '{"colour":"red"}' })).json() as { error: { code: string; message: string } };
    assert.deepEqual([event.error.code, event.error.message], ['unknown_parameter', 'Unknown event data field "colour".']);
  });
});

/** A request with this exact request target (node's client sends `path` as is: absolute-form, '*'). */
function rawRequest(url: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    request({ host: hostname, port, path }, (res) => {
      let body = '';
      res.on('data', (d) => { body += String(d); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
}

test('the request target: absolute-form is read like its path and query; one that is not a URL is a 400 that says so', async () => {
  const app = stubApp();
  await withServer(app, async (url) => {
    const absolute = await rawRequest(url, 'http://podcount.example/?namespace=shop');
    assert.equal(absolute.status, 200);
    assert.equal((JSON.parse(absolute.body) as { namespace: string }).namespace, 'shop');
    const star = await rawRequest(url, '*');
    assert.equal(star.status, 400);
    assert.deepEqual(JSON.parse(star.body), { error: { code: 'bad_request', message: 'The request target "*" is not a URL path.', hint: 'Send GET / or POST / (optionally with ?namespace=...).' } });
  });
  assert.deepEqual(app.calls.count, [{ namespace: 'shop', labelSelector: undefined, fieldSelector: undefined }]);
});

test('with callers checked, /metrics is for callers who may list everything podcount lists', async () => {
  const callerAuth: CallerAuth = {
    scopeQuestion: {},
    async authenticate(authorization) {
      if (!authorization) throw callerUnauthenticated('missing', ['podcount']);
      return { username: authorization.slice('Bearer '.length), groups: [], extra: {}, identityKey: authorization } satisfies CheckedCaller;
    },
    async authorize(caller, q) {
      if (caller.username !== 'admin') throw callerForbidden(caller.username, q.namespace, undefined);
    },
    report: () => ({ mode: 'kubernetes', audiences: ['podcount'], cache: { ttlSeconds: 10, maxEntries: 10, tokenReviews: { held: 0, sent: 0 }, accessReviews: { held: 0, sent: 0 } } }),
    warmUp: async () => {},
  };
  await withServer(stubApp({ callerAuth, env: { PODCOUNT_AUTH: 'kubernetes' } }), async (url) => {
    assert.equal((await fetch(`${url}/metrics`)).status, 401);
    const user = await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer someone' } });
    assert.equal(user.status, 403);
    assert.equal((await user.json() as { error: { code: string } }).error.code, 'caller_forbidden');
    const admin = await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer admin' } });
    assert.equal(admin.status, 200);
    assert.match(await admin.text(), /^# HELP podcount_/m);
  });
});
