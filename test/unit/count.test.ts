import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countPods, namespaceFromFieldSelector } from '../../function/count.ts';
import { PodcountError } from '../../function/errors.ts';
import { apiResponse, stubApi } from './stubs.ts';

test('a metadata.namespace term in a field selector names the namespace to list', () => {
  assert.equal(namespaceFromFieldSelector('metadata.namespace=beta'), 'beta');
  assert.equal(namespaceFromFieldSelector('status.phase=Running,metadata.namespace==team-a'), 'team-a');
  assert.equal(namespaceFromFieldSelector(' metadata.namespace = x '), 'x');
  assert.equal(namespaceFromFieldSelector('metadata.namespace!=beta'), undefined, 'an exclusion still spans the cluster');
  assert.equal(namespaceFromFieldSelector('metadata.name=beta'), undefined);
  assert.equal(namespaceFromFieldSelector(undefined), undefined);
  assert.equal(namespaceFromFieldSelector('metadata.namespace=Bad_NS'), undefined, 'not a namespace name: left to the server to reject');
});

test('a paginated count sums its pages and restarts, and reports a credential reload on any page', async () => {
  const pages: string[] = [];
  let expired = false;
  const api = stubApi((_method, path) => {
    pages.push(path);
    const cont = new URL(path, 'https://x').searchParams.get('continue');
    if (cont === 'p2' && !expired) {
      expired = true; // the first pass's continue token outlives etcd's compaction
      return apiResponse(410, { kind: 'Status', reason: 'Expired', message: 'too old resource version' });
    }
    if (cont === 'p2') return apiResponse(200, { kind: 'Table', metadata: { resourceVersion: '9' }, rows: [{}] }, true);
    return apiResponse(200, { kind: 'Table', metadata: { resourceVersion: '9', continue: 'p2' }, rows: [{}, {}] });
  });
  const r = await countPods(api, { labelSelector: 'app=web' }, { pageSize: 2, expiredRetries: 1 });
  assert.deepEqual({ ...r, apiBytes: r.apiBytes > 0 }, { count: 3, resourceVersion: '9', strategy: 'paginated', apiRequests: 4, apiBytes: true, credentialsReloaded: true });
  assert.equal(pages.length, 4);
});

test('an unfiltered count without a reload says so', async () => {
  const page = apiResponse(200, { metadata: { resourceVersion: '3', continue: 'c', remainingItemCount: 41 }, items: [{}] });
  const r = await countPods(stubApi(() => page), {}, { pageSize: 500, expiredRetries: 0 });
  assert.deepEqual(r, { count: 42, resourceVersion: '3', strategy: 'remainingItemCount', apiRequests: 1, apiBytes: page.body.length, credentialsReloaded: false });
});

/** A stand-in API server that keeps expiring the continue token of page two. */
function alwaysExpiring() {
  const paths: string[] = [];
  const api = stubApi((_method, path) => {
    paths.push(path);
    if (new URL(path, 'https://x').searchParams.has('continue')) {
      return apiResponse(410, { kind: 'Status', reason: 'Expired', message: 'The provided continue parameter is too old' });
    }
    return apiResponse(200, { kind: 'Table', metadata: { resourceVersion: '5', continue: 'p2' }, rows: [{}, {}] });
  });
  return { api, paths };
}

test('a 410 Expired on page two restarts the count from page one, and after the configured retries answers 503', async () => {
  for (const expiredRetries of [0, 1, 3]) {
    const { api, paths } = alwaysExpiring();
    await assert.rejects(countPods(api, { labelSelector: 'app=web' }, { pageSize: 2, expiredRetries }), (err: unknown) => {
      assert.ok(err instanceof PodcountError);
      assert.equal(err.status, 503);
      assert.equal(err.code, 'cluster_unavailable');
      assert.match(err.message, /kept expiring/);
      return true;
    });
    // Each pass: page one (no continue token: a new consistent list), then page two (expired).
    const pass = paths.map((p) => new URL(p, 'https://x').searchParams.get('continue'));
    assert.deepEqual(pass, Array.from({ length: expiredRetries + 1 }, () => [null, 'p2']).flat(), `expiredRetries=${expiredRetries}`);
  }
});

test('after a 410 Expired the restarted count counts afresh: no row of the expired pass is kept', async () => {
  let expired = false;
  const api = stubApi((_method, path) => {
    const cont = new URL(path, 'https://x').searchParams.get('continue');
    if (cont === 'p2' && !expired) {
      expired = true;
      return apiResponse(410, { kind: 'Status', reason: 'Expired', message: 'too old' });
    }
    if (cont === 'p2') return apiResponse(200, { kind: 'Table', metadata: { resourceVersion: '8' }, rows: [{}] });
    // The second pass sees a newer snapshot: its resourceVersion is the one reported.
    return apiResponse(200, { kind: 'Table', metadata: { resourceVersion: expired ? '8' : '7', continue: 'p2' }, rows: [{}, {}] });
  });
  const r = await countPods(api, { fieldSelector: 'status.phase=Running' }, { pageSize: 2, expiredRetries: 1 });
  assert.deepEqual([r.count, r.resourceVersion, r.apiRequests], [3, '8', 4]);
});

test('a 410 on the first page is not a continue token expiring: it is not retried', async () => {
  let calls = 0;
  const api = stubApi(() => { calls += 1; return apiResponse(410, { kind: 'Status', reason: 'Gone', message: 'gone' }); });
  await assert.rejects(countPods(api, { labelSelector: 'a=b' }, { pageSize: 2, expiredRetries: 3 }), (err: unknown) => err instanceof PodcountError && err.status === 503);
  assert.equal(calls, 1);
});

test('selectors carrying &, #, +, =, commas and spaces reach the API server as one parameter each, on every page', async () => {
  const labelSelector = 'tier in (web, api),app!=x+y';
  const fieldSelector = 'metadata.name!=a&b\\=c+d#e f,status.phase=Running';
  const seen: URLSearchParams[] = [];
  const api = stubApi((_method, path) => {
    const url = new URL(path, 'https://x');
    seen.push(url.searchParams);
    assert.equal(url.hash, '', 'nothing of a selector may turn into a fragment');
    const first = !url.searchParams.has('continue');
    return apiResponse(200, { kind: 'Table', metadata: { resourceVersion: '1', ...(first ? { continue: 'c 2&x=1' } : {}) }, rows: [{}] });
  });
  const r = await countPods(api, { labelSelector, fieldSelector }, { pageSize: 1, expiredRetries: 0 });
  assert.equal(r.count, 2);
  assert.equal(seen.length, 2);
  for (const params of seen) {
    assert.deepEqual(params.getAll('labelSelector'), [labelSelector]);
    assert.deepEqual(params.getAll('fieldSelector'), [fieldSelector]);
  }
  assert.deepEqual([...seen[0]!.keys()].sort(), ['fieldSelector', 'includeObject', 'labelSelector', 'limit']);
  assert.deepEqual(seen[1]!.getAll('continue'), ['c 2&x=1'], 'the continue token goes back exactly as the server gave it');
});

test('what each strategy asks for: one metadata-only item unfiltered, Tables without objects by the page when filtered', async () => {
  const asked: Array<{ path: string; params: Record<string, string> }> = [];
  const api = stubApi((_m, path) => {
    const url = new URL(path, 'https://x');
    asked.push({ path: url.pathname, params: Object.fromEntries(url.searchParams) });
    return apiResponse(200, url.searchParams.has('labelSelector') || url.searchParams.has('fieldSelector')
      ? { kind: 'Table', metadata: { resourceVersion: '4' }, rows: [{}, {}] }
      : { kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '4', continue: 'c', remainingItemCount: 0 }, items: [{}] });
  });
  const accepts: string[] = [];
  const recording = { ...api, get: (path: string, accept: string) => { accepts.push(accept); return api.get(path, accept); } };
  const opts = { pageSize: 7, expiredRetries: 0 };
  assert.deepEqual(await countPods(recording, {}, opts).then((r) => [r.count, r.strategy]), [1, 'remainingItemCount'], 'remainingItemCount 0 is exact too');
  assert.deepEqual(await countPods(recording, { namespace: 'a' }, opts).then((r) => [r.count, r.strategy]), [1, 'remainingItemCount']);
  assert.deepEqual(await countPods(recording, { labelSelector: 'app=web' }, opts).then((r) => [r.count, r.strategy]), [2, 'single-page']);
  assert.deepEqual(await countPods(recording, { fieldSelector: 'metadata.namespace=b' }, opts).then((r) => [r.count, r.strategy]), [2, 'single-page']);
  assert.deepEqual(asked, [
    { path: '/api/v1/pods', params: { limit: '1' } },
    { path: '/api/v1/namespaces/a/pods', params: { limit: '1' } },
    { path: '/api/v1/pods', params: { limit: '7', labelSelector: 'app=web', includeObject: 'None' } },
    { path: '/api/v1/namespaces/b/pods', params: { limit: '7', fieldSelector: 'metadata.namespace=b', includeObject: 'None' } },
  ]);
  assert.deepEqual(accepts, [
    'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
    'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
    'application/json;as=Table;g=meta.k8s.io;v=v1,application/json',
    'application/json;as=Table;g=meta.k8s.io;v=v1,application/json',
  ]);
});

test('pages without metadata, or a negative remainingItemCount, are counted by their items', async () => {
  const bare = stubApi(() => apiResponse(200, { items: [{}, {}, {}] }));
  assert.deepEqual(await countPods(bare, {}, { pageSize: 5, expiredRetries: 0 }).then((r) => [r.count, r.resourceVersion, r.strategy]), [3, '', 'single-page']);
  let page = 0;
  const later: URLSearchParams[] = [];
  const odd = stubApi((_m, path) => {
    if (page > 0) later.push(new URL(path, 'https://x').searchParams);
    return apiResponse(200, page++ === 0 ? { metadata: { resourceVersion: '2', continue: 'c', remainingItemCount: -1 }, items: [{}] } : { metadata: {}, items: [{}] });
  });
  assert.deepEqual(await countPods(odd, {}, { pageSize: 5, expiredRetries: 0 }).then((r) => [r.count, r.resourceVersion, r.strategy]), [2, '2', 'paginated']);
  assert.deepEqual(later.map((p) => [p.get('limit'), p.get('includeObject'), p.get('continue')]), [['5', 'None', 'c']], 'pages after the first are Tables of the page size');
  await assert.rejects(countPods(stubApi(() => ({ status: 200, headers: { 'content-type': 'text/html' }, body: Buffer.from('<html>'), credentialsReloaded: false })), {}, { pageSize: 5, expiredRetries: 0 }),
    (e: unknown) => e instanceof PodcountError && e.code === 'upstream_error' && /text\/html/.test(e.message));
});

test('a namespace term is found among escaped commas and spaces, and only as a whole term', () => {
  assert.equal(namespaceFromFieldSelector('metadata.name=a\\,metadata.namespace=x'), undefined, 'an escaped comma does not start a term');
  assert.equal(namespaceFromFieldSelector('xmetadata.namespace=x'), undefined);
  assert.equal(namespaceFromFieldSelector('metadata.namespace=x-'), undefined);
  assert.equal(namespaceFromFieldSelector('metadata.namespace=x y'), undefined);
});

test('an API failure on the first page is answered as what it is, not as an expired list', async () => {
  const forbidden = stubApi(() => apiResponse(403, { kind: 'Status', reason: 'Forbidden', message: 'pods is forbidden: User "system:serviceaccount:a:b" cannot list resource "pods"' }));
  await assert.rejects(countPods(forbidden, {}, { pageSize: 5, expiredRetries: 2 }), (e: unknown) => e instanceof PodcountError && e.status === 502 && e.code === 'forbidden');
});

test('a failure on a later page other than 410 is that failure, not an expired list to restart', async () => {
  let calls = 0;
  const api = stubApi(() => (++calls === 1
    ? apiResponse(200, { kind: 'Table', metadata: { resourceVersion: '1', continue: 'c' }, rows: [{}] })
    : apiResponse(500, { kind: 'Status', message: 'etcdserver: leader changed' })));
  await assert.rejects(countPods(api, { labelSelector: 'a=b' }, { pageSize: 1, expiredRetries: 3 }),
    (e: unknown) => e instanceof PodcountError && e.status === 503 && /failed with 500: etcdserver: leader changed/.test(e.message));
  assert.equal(calls, 2, 'no restart');
});

test('a remainingItemCount that is not a number is not trusted: the pages are counted instead', async () => {
  const api = stubApi((_m, path) => apiResponse(200, new URL(path, 'https://x').searchParams.has('continue')
    ? { kind: 'Table', metadata: { resourceVersion: '2' }, rows: [{}, {}] }
    : { metadata: { resourceVersion: '2', continue: 'c', remainingItemCount: '5' }, items: [{}] }));
  assert.deepEqual(await countPods(api, {}, { pageSize: 5, expiredRetries: 0 }).then((r) => [r.count, r.strategy, r.apiRequests]), [3, 'paginated', 2]);
});
