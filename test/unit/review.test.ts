import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PodcountError } from '../../function/errors.ts';
import { accessReview, selfReview, serverVersion } from '../../function/review.ts';
import { apiResponse, stubApi } from './stubs.ts';

test('"may I list pods?" asks exactly that, cluster-wide or in one namespace, and reads the answer', async () => {
  const asked: unknown[] = [];
  let status: object = { allowed: true };
  const api = stubApi((_m, path, body) => {
    asked.push([path, body]);
    return apiResponse(201, { status });
  });
  assert.deepEqual(await accessReview(api, undefined), { allowed: true });
  status = { allowed: false, reason: 'no RBAC policy matched' };
  assert.deepEqual(await accessReview(api, 'team'), { allowed: false, reason: 'no RBAC policy matched' });
  status = { allowed: 'yes' };
  assert.deepEqual(await accessReview(api, undefined), { allowed: false }, 'only a literal true allows');
  const spec = (ns?: string) => ({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'list', resource: 'pods', group: '', ...(ns ? { namespace: ns } : {}) } } });
  assert.deepEqual(asked.slice(0, 2), [['/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', spec()], ['/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', spec('team')]]);
  const named = stubApi(() => apiResponse(201, { status: { allowed: true } }));
  (named.target.identity as { username?: string }).username = 'system:serviceaccount:a:b';
  assert.deepEqual(await accessReview(named, undefined), { allowed: true, username: 'system:serviceaccount:a:b' });
  await assert.rejects(accessReview(stubApi(() => apiResponse(500, { message: 'etcd' })), undefined), (e: unknown) => e instanceof PodcountError && e.status === 503);
});

test('"who am I?" is the server\'s answer, or undefined where SelfSubjectReview is refused or not served', async () => {
  let body: unknown;
  const who = stubApi((_m, _p, b) => { body = b; return apiResponse(201, { status: { userInfo: { username: 'u' } } }); });
  assert.deepEqual(await selfReview(who), { username: 'u', groups: [] });
  assert.deepEqual(body, { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  assert.equal(await selfReview(stubApi(() => apiResponse(201, { status: {} }))), undefined);
  assert.equal(await selfReview(stubApi(() => apiResponse(403, { kind: 'Status', reason: 'Forbidden', message: 'forbidden' }))), undefined);
  assert.equal(await selfReview(stubApi(() => apiResponse(404, { kind: 'Status', reason: 'NotFound', message: 'not found' }))), undefined);
  await assert.rejects(selfReview(stubApi(() => apiResponse(401, { kind: 'Status', reason: 'Unauthorized', message: 'Unauthorized' }))), (e: unknown) => e instanceof PodcountError && e.code === 'unauthenticated');
  await assert.rejects(selfReview(stubApi(() => apiResponse(503, { message: 'down' }))), (e: unknown) => e instanceof PodcountError && e.status === 503);
});

test('the server version is its gitVersion; a failure is a PodcountError', async () => {
  assert.equal(await serverVersion(stubApi(() => apiResponse(200, { gitVersion: 'v1.36.3' }))), 'v1.36.3');
  await assert.rejects(serverVersion(stubApi(() => apiResponse(500, { message: 'x' }))), PodcountError);
});

test('a self review answered 200 (not 201) is read like any other; one without a status says nothing', async () => {
  assert.deepEqual(await accessReview(stubApi(() => apiResponse(200, { status: { allowed: true } })), 'team'), { allowed: true });
  assert.deepEqual(await selfReview(stubApi(() => apiResponse(200, { status: { userInfo: { username: 'u', groups: ['g'] } } }))), { username: 'u', groups: ['g'] });
  assert.equal(await selfReview(stubApi(() => apiResponse(201, {}))), undefined);
});

test('the server version is asked for as JSON at /version', async () => {
  const asked: unknown[] = [];
  const api = { ...stubApi(() => apiResponse(200, {})), get: async (path: string, accept: string) => (asked.push([path, accept]), apiResponse(200, { gitVersion: 'v1.34.1' })) };
  assert.equal(await serverVersion(api), 'v1.34.1');
  assert.deepEqual(asked, [['/version', 'application/json']]);
});
