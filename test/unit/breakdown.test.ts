// Breakdowns against a fake API server: what each method asks for, how it aggregates, that phase
// counts are pinned to the snapshot of the first, and that an expired snapshot starts again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { breakdownPods, GroupCounter, phaseSelectors } from '../../function/breakdown.ts';
import { PodcountError } from '../../function/errors.ts';
import { apiResponse, stubApi } from './stubs.ts';

const OPTS = { pageSize: 2, expiredRetries: 1 };
const params = (path: string) => new URL(path, 'https://x').searchParams;
const COLUMNS = ['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node', 'Nominated Node', 'Readiness Gates'].map((name) => ({ name }));
const row = (node: string) => ({ cells: ['p', '0/1', 'Pending', '0', '1s', '<none>', node, '<none>', '<none>'], object: null });

test('groups count each name once per add, keep no empty group and sort by name', () => {
  const g = new GroupCounter();
  for (const n of ['b', 'a', 'b', 'c']) g.add(n);
  g.add('zero', 0);
  g.add('a', 3);
  assert.equal(g.total, 7);
  assert.deepEqual(Object.entries(g.toRecord()), [['a', 4], ['b', 2], ['c', 1]]);
});

test('phase selectors partition the pods: one per phase and the rest, each narrowing the caller\'s own selector', () => {
  assert.deepEqual(phaseSelectors(undefined), [
    ['Pending', 'status.phase=Pending'], ['Running', 'status.phase=Running'], ['Succeeded', 'status.phase=Succeeded'],
    ['Failed', 'status.phase=Failed'], ['Unknown', 'status.phase=Unknown'],
    ['<other>', 'status.phase!=Pending,status.phase!=Running,status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown'],
  ]);
  assert.ok(phaseSelectors('spec.nodeName=n1').every(([, s]) => s.startsWith('spec.nodeName=n1,status.phase')));
});

test('groupBy=node: one pass over Table rows without objects, the Node column by name, unscheduled pods as <none>', async () => {
  const paths: string[] = [];
  const api = stubApi((_m, path) => {
    paths.push(path);
    if (params(path).get('continue') === 'c2') return apiResponse(200, { kind: 'Table', metadata: { resourceVersion: '5' }, rows: [row('n2'), row('')] });
    return apiResponse(200, { kind: 'Table', columnDefinitions: COLUMNS, metadata: { resourceVersion: '5', continue: 'c2' }, rows: [row('n1'), row('<none>')] });
  });
  const r = await breakdownPods(api, { labelSelector: 'app=web', groupBy: 'node' }, OPTS);
  assert.deepEqual(r.groups, { '<none>': 2, n1: 1, n2: 1 });
  assert.equal(r.count, 4);
  assert.equal(r.strategy, 'node-table-column');
  assert.equal(r.resourceVersion, '5');
  assert.equal(r.apiRequests, 2);
  const first = params(paths[0]!);
  assert.equal(first.get('includeObject'), 'None');
  assert.equal(first.get('labelSelector'), 'app=web');
  assert.equal(first.get('limit'), '2');
  assert.equal(first.get('resourceVersion'), null, 'a consistent read, never resourceVersion=0');
});

test('groupBy=node: a Table without a Node column is a 502 that says so, not a wrong answer', async () => {
  const api = stubApi(() => apiResponse(200, { kind: 'Table', columnDefinitions: [{ name: 'Name' }], metadata: {}, rows: [{ cells: ['p'] }] }));
  await assert.rejects(breakdownPods(api, { groupBy: 'node' }, OPTS), (e: unknown) => e instanceof PodcountError && e.status === 502 && /Node/.test(e.message));
});

test('groupBy=namespace: metadata-only pages read metadata.namespace ("items": null when empty)', async () => {
  const paths: string[] = [];
  const api = stubApi((_m, path) => {
    paths.push(path);
    const c = params(path).get('continue');
    if (c === 'c3') return apiResponse(200, { kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '8' }, items: null });
    if (c === 'c2') return apiResponse(200, { kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '8', continue: 'c3' }, items: [{ metadata: { namespace: 'b' } }] });
    return apiResponse(200, { kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '8', continue: 'c2' }, items: [{ metadata: { namespace: 'a' } }, { metadata: { namespace: 'b' } }] });
  });
  const r = await breakdownPods(api, { groupBy: 'namespace' }, OPTS);
  assert.deepEqual({ count: r.count, groups: r.groups, strategy: r.strategy, requests: r.apiRequests }, { count: 3, groups: { a: 1, b: 2 }, strategy: 'namespace-metadata-pages', requests: 3 });
  assert.ok(paths.every((p) => p.startsWith('/api/v1/pods?')));
});

test('groupBy=namespace with one namespace asked is its plain count: one limit=1 read unfiltered, no group when empty', async () => {
  const paths: string[] = [];
  const api = stubApi((_m, path) => {
    paths.push(path);
    return apiResponse(200, { metadata: { resourceVersion: '3', continue: 'x', remainingItemCount: 6 }, items: [{}] });
  });
  const r = await breakdownPods(api, { namespace: 'shop', groupBy: 'namespace' }, OPTS);
  assert.deepEqual({ count: r.count, groups: r.groups, strategy: r.strategy }, { count: 7, groups: { shop: 7 }, strategy: 'remainingItemCount' });
  assert.deepEqual(paths, ['/api/v1/namespaces/shop/pods?limit=1']);
  const empty = await breakdownPods(stubApi(() => apiResponse(200, { kind: 'Table', metadata: { resourceVersion: '3' }, rows: [] })), { fieldSelector: 'metadata.namespace=gone,status.phase=Failed', groupBy: 'namespace' }, OPTS);
  assert.deepEqual({ count: empty.count, groups: empty.groups }, { count: 0, groups: {} });
});

test('groupBy=phase: six counts, every one after the first pinned to its snapshot (Exact), only phases with pods reported', async () => {
  const paths: string[] = [];
  const perPhase: Record<string, number> = { 'status.phase=Pending': 3, 'status.phase=Running': 1 };
  const api = stubApi((_m, path) => {
    paths.push(path);
    const rows = Array.from({ length: perPhase[params(path).get('fieldSelector')!] ?? 0 }, () => row('n'));
    return apiResponse(200, { kind: 'Table', metadata: { resourceVersion: '42' }, rows });
  });
  const r = await breakdownPods(api, { namespace: 'shop', groupBy: 'phase' }, { pageSize: 500, expiredRetries: 0 });
  assert.deepEqual({ count: r.count, groups: r.groups, rv: r.resourceVersion, strategy: r.strategy }, { count: 4, groups: { Pending: 3, Running: 1 }, rv: '42', strategy: 'phase-field-selectors' });
  assert.equal(paths.length, 6);
  assert.equal(params(paths[0]!).get('resourceVersion'), null, 'the first read is a fresh consistent one');
  for (const p of paths.slice(1)) {
    assert.equal(params(p).get('resourceVersion'), '42');
    assert.equal(params(p).get('resourceVersionMatch'), 'Exact');
    assert.ok(p.startsWith('/api/v1/namespaces/shop/pods?'));
  }
});

test('groupBy=phase: a snapshot expired under a pinned read starts the whole breakdown again, then answers 503', async () => {
  let expire = 1;
  let firsts = 0;
  const api = stubApi((_m, path) => {
    if (!params(path).has('resourceVersion')) firsts += 1;
    if (params(path).has('resourceVersion') && expire-- > 0) return apiResponse(410, { kind: 'Status', reason: 'Expired', message: 'too old resource version' });
    return apiResponse(200, { kind: 'Table', metadata: { resourceVersion: String(firsts) }, rows: [row('n')] });
  });
  const r = await breakdownPods(api, { groupBy: 'phase' }, OPTS);
  assert.equal(firsts, 2, 'started again with a fresh snapshot');
  assert.equal(r.count, 6);
  assert.equal(r.resourceVersion, '2');
  const always = stubApi((_m, path) => (params(path).has('resourceVersion')
    ? apiResponse(410, { kind: 'Status', reason: 'Expired', message: 'too old resource version' })
    : apiResponse(200, { kind: 'Table', metadata: { resourceVersion: '1' }, rows: [] })));
  await assert.rejects(breakdownPods(always, { groupBy: 'phase' }, OPTS), (e: unknown) => e instanceof PodcountError && e.status === 503);
});

/** A stand-in API server answering from `answer`, recording each request's path, its parameters and its Accept header. */
function recordingApi(answer: (params: URLSearchParams, path: string) => ReturnType<typeof apiResponse>) {
  const asked: Array<{ path: string; params: URLSearchParams; accept: string }> = [];
  const api = stubApi((_m, path) => answer(params(path), path));
  const recording = { ...api, get: (path: string, accept: string) => {
    asked.push({ path, params: params(path), accept });
    return api.get(path, accept);
  } };
  return { api: recording, asked };
}

const TABLE = 'application/json;as=Table;g=meta.k8s.io;v=v1,application/json';
const METADATA = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

test('groupBy=node and namespace ask each page for exactly the query: selectors as one parameter each, the continue token, the method\'s representation', async () => {
  const labelSelector = 'tier in (web, api),app!=x+y';
  const fieldSelector = 'metadata.name!=a&b\\=c+d#e f,spec.nodeName!=n9';
  const nodes = recordingApi((p) => apiResponse(200, p.has('continue')
    ? { kind: 'Table', metadata: { resourceVersion: '5' }, rows: [row('n1')] }
    : { kind: 'Table', columnDefinitions: COLUMNS, metadata: { resourceVersion: '5', continue: 'c 2&x=1' }, rows: [row('n2')] }));
  const byNode = await breakdownPods(nodes.api, { labelSelector, fieldSelector, groupBy: 'node' }, OPTS);
  assert.deepEqual(byNode.groups, { n1: 1, n2: 1 });
  assert.deepEqual(nodes.asked.map((a) => [a.path.split('?')[0], Object.fromEntries(a.params), a.params.getAll('labelSelector').length, a.params.getAll('fieldSelector').length, a.accept]), [
    ['/api/v1/pods', { limit: '2', labelSelector, fieldSelector, includeObject: 'None' }, 1, 1, TABLE],
    ['/api/v1/pods', { limit: '2', labelSelector, fieldSelector, continue: 'c 2&x=1', includeObject: 'None' }, 1, 1, TABLE],
  ]);
  const namespaces = recordingApi((p) => apiResponse(200, p.has('continue')
    ? { kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '6' }, items: [{ metadata: { namespace: 'b' } }] }
    : { kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '6', continue: 'c2' }, items: [{ metadata: { namespace: 'a' } }] }));
  const byNamespace = await breakdownPods(namespaces.api, { groupBy: 'namespace' }, OPTS);
  assert.deepEqual(byNamespace.groups, { a: 1, b: 1 });
  assert.deepEqual(namespaces.asked.map((a) => [a.path, a.accept]), [
    ['/api/v1/pods?limit=2', METADATA],
    ['/api/v1/pods?limit=2&continue=c2', METADATA],
  ], 'an unfiltered breakdown sends no selector, and the first page no continue token');
  namespaces.asked.length = 0;
  await breakdownPods(namespaces.api, { fieldSelector: 'status.phase=Running', groupBy: 'namespace' }, OPTS);
  assert.deepEqual(namespaces.asked.map((a) => a.params.get('fieldSelector')), ['status.phase=Running', 'status.phase=Running']);
});

test('groupBy=namespace reads at most 500 pods a page (the memory it holds), fewer when the page size is smaller', async () => {
  const { api, asked } = recordingApi(() => apiResponse(200, { kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '1' }, items: [] }));
  await breakdownPods(api, { groupBy: 'namespace' }, { pageSize: 5000, expiredRetries: 0 });
  await breakdownPods(api, { groupBy: 'namespace' }, { pageSize: 20, expiredRetries: 0 });
  await breakdownPods(api, { groupBy: 'node' }, { pageSize: 5000, expiredRetries: 0 });
  assert.deepEqual(asked.map((a) => a.params.get('limit')), ['500', '20', '5000'], 'a Table row is small: the node breakdown takes the page size as it is');
});

test('groupBy=node: a 410 Expired on a later page starts the breakdown again, counted afresh; a 410 on the first page is not retried', async () => {
  let expired = false;
  const { api, asked } = recordingApi((p) => {
    if (p.has('continue') && !expired) {
      expired = true;
      return apiResponse(410, { kind: 'Status', reason: 'Expired', message: 'too old resource version' });
    }
    // The second pass sees a newer snapshot: its resourceVersion is the one reported.
    return apiResponse(200, p.has('continue')
      ? { kind: 'Table', metadata: { resourceVersion: '9' }, rows: [row('n2')] }
      : { kind: 'Table', columnDefinitions: COLUMNS, metadata: { resourceVersion: expired ? '9' : '8', continue: 'c2' }, rows: [row('n1')] });
  });
  const r = await breakdownPods(api, { groupBy: 'node' }, { pageSize: 1, expiredRetries: 1 });
  assert.deepEqual({ groups: r.groups, count: r.count, rv: r.resourceVersion, requests: r.apiRequests }, { groups: { n1: 1, n2: 1 }, count: 2, rv: '9', requests: 4 });
  assert.deepEqual(asked.map((a) => a.params.get('continue')), [null, 'c2', null, 'c2']);
  let calls = 0;
  const gone = stubApi(() => { calls += 1; return apiResponse(410, { kind: 'Status', reason: 'Gone', message: 'gone' }); });
  await assert.rejects(breakdownPods(gone, { groupBy: 'node' }, { pageSize: 1, expiredRetries: 3 }), (e: unknown) => e instanceof PodcountError && e.status === 503);
  assert.equal(calls, 1, 'not a continue token expiring: no restart');
});

test('a breakdown page without metadata still counts its rows, and the answer then names no resourceVersion', async () => {
  const nodes = await breakdownPods(stubApi(() => apiResponse(200, { kind: 'Table', columnDefinitions: COLUMNS, rows: [row('n1'), row('n1')] })), { groupBy: 'node' }, OPTS);
  assert.deepEqual({ groups: nodes.groups, count: nodes.count, rv: nodes.resourceVersion, requests: nodes.apiRequests }, { groups: { n1: 2 }, count: 2, rv: '', requests: 1 });
  const namespaces = await breakdownPods(stubApi(() => apiResponse(200, { items: [{ metadata: { namespace: 'a' } }] })), { groupBy: 'namespace' }, OPTS);
  assert.deepEqual({ groups: namespaces.groups, rv: namespaces.resourceVersion }, { groups: { a: 1 }, rv: '' });
});

test('groupBy=node finds the Node column by name wherever it is, the first column included, and keeps it for pages that repeat no columns', async () => {
  const first = [{ name: 'Node' }, { name: 'Name' }];
  const api = stubApi((_m, path) => apiResponse(200, params(path).has('continue')
    ? { kind: 'Table', metadata: { resourceVersion: '2' }, rows: [{ cells: ['n2', 'p'] }] }
    : { kind: 'Table', columnDefinitions: first, metadata: { resourceVersion: '2', continue: 'c2' }, rows: [{ cells: ['n1', 'p'] }] }));
  const r = await breakdownPods(api, { groupBy: 'node' }, OPTS);
  assert.deepEqual(r.groups, { n1: 1, n2: 1 });
});

test('groupBy=node: rows before any column definitions are a 502, not a count of whichever column comes second', async () => {
  const api = stubApi(() => apiResponse(200, { kind: 'Table', metadata: { resourceVersion: '2' }, rows: [{ cells: ['p', 'n1'] }] }));
  await assert.rejects(breakdownPods(api, { groupBy: 'node' }, OPTS), (e: unknown) => e instanceof PodcountError && e.status === 502 && e.code === 'upstream_error' && /"Node" column/.test(e.message));
});

test('groupBy=node: an empty Table is no pods, even one that names no columns or carries no rows', async () => {
  for (const table of [{ kind: 'Table', metadata: { resourceVersion: '3' } }, { kind: 'Table', metadata: { resourceVersion: '3' }, columnDefinitions: [], rows: [] }, { kind: 'Table', metadata: { resourceVersion: '3' }, columnDefinitions: COLUMNS, rows: null }]) {
    const r = await breakdownPods(stubApi(() => apiResponse(200, table)), { groupBy: 'node' }, OPTS);
    assert.deepEqual({ count: r.count, groups: r.groups, rv: r.resourceVersion }, { count: 0, groups: {}, rv: '3' }, JSON.stringify(table));
  }
});

test('groupBy=node: a row without cells, or whose Node cell is no name (null, a number, ""), is still a pod, under <none>', async () => {
  const rows = [{}, { cells: null }, { cells: ['p', null] }, { cells: ['p', 7] }, { cells: ['p', ''] }, { cells: ['p'] }, { cells: ['p', 'n1'] }];
  const r = await breakdownPods(stubApi(() => apiResponse(200, { kind: 'Table', columnDefinitions: [{ name: 'Name' }, { name: 'Node' }], metadata: { resourceVersion: '4' }, rows })), { groupBy: 'node' }, OPTS);
  assert.deepEqual({ count: r.count, groups: r.groups }, { count: 7, groups: { '<none>': 6, n1: 1 } }, 'the total stays the plain count');
});

test('groupBy=namespace: an item without a metadata.namespace string is a 502 that names it, not a pod in no group', async () => {
  for (const item of [{}, { metadata: null }, { metadata: {} }, { metadata: { namespace: 5 } }]) {
    const api = stubApi(() => apiResponse(200, { kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '1' }, items: [{ metadata: { namespace: 'a' } }, item] }));
    await assert.rejects(breakdownPods(api, { groupBy: 'namespace' }, OPTS),
      (e: unknown) => e instanceof PodcountError && e.status === 502 && e.code === 'upstream_error' && /a pod without metadata\.namespace in a metadata-only list/.test(e.message), JSON.stringify(item));
  }
});
