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
