import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp } from '../../function/app.ts';
import { loadConfig } from '../../function/config.ts';
import type { CountQuery } from '../../function/count.ts';
import { createLogger } from '../../function/log.ts';
import { toCountQuery } from '../../function/request.ts';
import { apiResponse, stubApi } from './stubs.ts';

/** An app over a stand-in API server that answers each list with the request's own path as its resourceVersion. */
function appOverEcho() {
  const paths: string[] = [];
  const api = stubApi((_method, path) => {
    paths.push(path);
    return apiResponse(200, { kind: 'Table', metadata: { resourceVersion: path }, rows: [{}] });
  });
  const config = loadConfig({});
  const app = createApp({ config, resolution: { ok: true, target: api.target }, api, scopeNamespace: undefined, accessCheck: undefined }, createLogger('silent', { write: () => {} }));
  return { app, paths };
}

/** Every field a query can narrow by: whatever request.ts hands to the count (new fields included). */
const FIELDS = Object.keys(toCountQuery({}, loadConfig({}), undefined, 'query')) as Array<keyof CountQuery>;
const variant = (field: keyof CountQuery, n: number) => (field === 'namespace' ? `ns-${n}` : `k${n}=v${n}`);

test('concurrent queries that differ in any one field never share an answer', async () => {
  assert.deepEqual([...FIELDS].sort(), ['fieldSelector', 'labelSelector', 'namespace'].sort(), 'the fields this test varies (a new one is varied too)');
  const full = Object.fromEntries(FIELDS.map((f) => [f, variant(f, 1)])) as CountQuery;
  for (const field of FIELDS) {
    // The field changed, or left out, with every other field the same.
    for (const other of [{ ...full, [field]: variant(field, 2) }, { ...full, [field]: undefined }]) {
      const { app, paths } = appOverEcho();
      const [a, b] = await Promise.all([app.count(full), app.count(other)]);
      assert.equal(paths.length, 2, `${field}: one read each`);
      assert.notEqual(a.resourceVersion, b.resourceVersion, `${field}: each answer comes from its own read`);
      const asked = (q: CountQuery, path: string) => {
        const params = new URL(path, 'https://x').searchParams;
        return (q.labelSelector ?? null) === params.get('labelSelector') && (q.fieldSelector ?? null) === params.get('fieldSelector')
          && path.startsWith(q.namespace ? `/api/v1/namespaces/${q.namespace}/pods?` : '/api/v1/pods?');
      };
      assert.ok(asked(full, a.resourceVersion), `${field}: the first answer is for the first query: ${a.resourceVersion}`);
      assert.ok(asked(other, b.resourceVersion), `${field}: the second answer is for the second query: ${b.resourceVersion}`);
    }
  }
});

test('queries whose fields only read the same when joined do not share an answer', async () => {
  const pairs: Array<[CountQuery, CountQuery]> = [
    [{ labelSelector: 'a,b' }, { labelSelector: 'a', fieldSelector: 'b' }],
    [{ namespace: 'a', labelSelector: 'b=c' }, { labelSelector: 'a', fieldSelector: 'b=c' }],
    [{ labelSelector: 'null' }, {}],
  ];
  for (const [x, y] of pairs) {
    const { app, paths } = appOverEcho();
    const [a, b] = await Promise.all([app.count(x), app.count(y)]);
    assert.equal(paths.length, 2, JSON.stringify([x, y]));
    assert.notEqual(a.resourceVersion, b.resourceVersion);
  }
});

test('identical concurrent queries do share one read', async () => {
  const { app, paths } = appOverEcho();
  const q = { namespace: 'a', labelSelector: 'x=1', fieldSelector: 'status.phase=Running' };
  const answers = await Promise.all([app.count(q), app.count({ ...q }), app.count({ ...q })]);
  assert.equal(paths.length, 1);
  assert.equal(new Set(answers.map((a) => a.resourceVersion)).size, 1);
});

/** An app with a logger whose lines the test reads, and an access check it chooses. */
function appWith(o: { accessCheck?: Promise<import('../../function/review.ts').AccessAnswer>; username?: string; scopeNamespace?: string; api?: boolean; env?: Record<string, string> }) {
  const lines: Array<Record<string, unknown> & { level: string; msg: string }> = [];
  let closed = 0;
  const api = stubApi(() => apiResponse(200, { metadata: { resourceVersion: '1' }, items: [] }));
  if (o.username) (api.target.identity as { username?: string }).username = o.username;
  const withClose = { ...api, close: () => { closed += 1; } };
  const config = loadConfig(o.env ?? {});
  const resolution = o.api === false ? { ok: false as const, why: 'no token mounted', notes: ['looked in /sa'] } : { ok: true as const, target: api.target };
  const app = createApp({ config, resolution, api: o.api === false ? undefined : withClose, scopeNamespace: o.scopeNamespace, accessCheck: o.accessCheck },
    createLogger('debug', { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) }));
  return { app, lines, closed: () => closed };
}

test('warm-up says once whether podcount may list pods, and the exact fix when not', async () => {
  let w = appWith({ accessCheck: Promise.resolve({ allowed: true }) });
  await w.app.warmUp();
  assert.deepEqual(w.lines.map((l) => [l.level, l.msg, l['server'], l['source']]), [['info', 'ready: may list pods in all namespaces', 'https://10.0.0.1:443', 'in-cluster']]);
  w = appWith({ accessCheck: Promise.resolve({ allowed: true }), scopeNamespace: 'team' });
  await w.app.warmUp();
  assert.equal(w.lines[0]?.msg, 'ready: may list pods in namespace team');
  w = appWith({ accessCheck: Promise.resolve({ allowed: false, reason: 'no RBAC policy matched', username: 'system:serviceaccount:apps:pc' }) });
  await w.app.warmUp();
  assert.equal(w.lines[0]?.level, 'warn');
  assert.equal(w.lines[0]?.['reason'], 'no RBAC policy matched');
  assert.match(w.lines[0]!.msg, /ServiceAccount apps\/pc may not list pods at the cluster scope\. Fix: kubectl create clusterrole/);
  w = appWith({ accessCheck: Promise.resolve({ allowed: false }), username: 'system:serviceaccount:apps:pc', scopeNamespace: 'team' });
  await w.app.warmUp();
  assert.match(w.lines[0]!.msg, /ServiceAccount apps\/pc may not list pods in namespace team\. Fix: kubectl create role/, 'the user from the connection when the review names none');
  w = appWith({ accessCheck: Promise.resolve({ allowed: false, username: 'alice' }) });
  await w.app.warmUp();
  assert.equal(w.lines[0]?.msg, 'alice may not list pods at the cluster scope: every count will answer 502 forbidden');
  w = appWith({ accessCheck: Promise.resolve({ allowed: false }), scopeNamespace: 'team' });
  await w.app.warmUp();
  assert.equal(w.lines[0]?.msg, 'podcount may not list pods in namespace team: every count will answer 502 forbidden');
  w = appWith({ accessCheck: Promise.reject(new Error('ECONNREFUSED')) });
  await w.app.warmUp();
  assert.deepEqual([w.lines[0]?.level, w.lines[0]?.msg, w.lines[0]?.['err']], ['warn', 'warm-up could not reach the API server; counts will retry on demand', 'ECONNREFUSED']);
  w = appWith({});
  await w.app.warmUp();
  assert.deepEqual(w.lines, [], 'no access check asked: nothing to say');
});

test('without a cluster configuration: one warning at start, and every count is 503 no_cluster_config', async () => {
  const w = appWith({ api: false });
  assert.deepEqual(w.lines.map((l) => [l.level, l.msg, l['notes']]), [['warn', 'no cluster configuration: no token mounted; counts answer 503 no_cluster_config', ['looked in /sa']]]);
  assert.deepEqual([w.app.why, w.app.notes, w.app.api, w.app.ownNamespace], ['no token mounted', ['looked in /sa'], undefined, undefined]);
  await assert.rejects(w.app.count({}), (e: unknown) => (e as { code?: string }).code === 'no_cluster_config' && /no token mounted/.test((e as Error).message));
  await w.app.warmUp();
  w.app.close();
  assert.equal(w.lines.length, 1);
});

test('close() closes the API connection; callers are checked only when PODCOUNT_AUTH=kubernetes', async () => {
  const w = appWith({});
  assert.deepEqual([w.app.why, w.app.notes, w.app.callerAuth], [undefined, [], undefined]);
  w.app.close();
  assert.equal(w.closed(), 1);
  const checked = appWith({ env: { PODCOUNT_AUTH: 'kubernetes' } });
  const auth = await checked.app.callerAuth;
  assert.deepEqual(auth?.report().audiences, ['podcount']);
});

test('with caller checks on, warm-up also says whether podcount may review its callers, and the fix when not', async () => {
  const w = appWith({ env: { PODCOUNT_AUTH: 'kubernetes' }, accessCheck: Promise.resolve({ allowed: true }) });
  await w.app.warmUp();
  const reviews = w.lines.find((l) => /tokenreviews/.test(l.msg));
  assert.equal(reviews?.level, 'warn', JSON.stringify(w.lines));
  assert.match(reviews.msg, /^PODCOUNT_AUTH=kubernetes needs podcount's identity to create tokenreviews and subjectaccessreviews\. Fix: kubectl create clusterrole/);
  assert.deepEqual(reviews['missing'], ['tokenreviews.authentication.k8s.io', 'subjectaccessreviews.authorization.k8s.io']);
  assert.ok(w.lines.some((l) => l.msg === 'ready: may list pods in all namespaces'), 'and whether it may list pods');
});
