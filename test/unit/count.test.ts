import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countPods, namespaceFromFieldSelector } from '../../function/count.ts';
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
