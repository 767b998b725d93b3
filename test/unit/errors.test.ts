import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromApiFailure, fromNetworkError } from '../../function/errors.ts';
import { rbacFixFor } from '../../function/rbac-advice.ts';

const inCluster = { source: 'in-cluster' as const, tokenPath: '/sa/token', username: 'system:serviceaccount:apps:podcount' };
const forbiddenMessage = 'pods is forbidden: User "system:serviceaccount:test-in-cluster:default" cannot list resource "pods" in API group "" at the cluster scope';

test('403 becomes 502 forbidden with the fix for the account the server named', () => {
  const e = fromApiFailure({ status: 403, message: forbiddenMessage }, inCluster);
  assert.equal(e.status, 502);
  assert.equal(e.code, 'forbidden');
  assert.equal(e.message, forbiddenMessage);
  assert.match(e.hint, /kubectl create clusterrolebinding podcount-pod-lister --clusterrole=podcount-pod-lister --serviceaccount=test-in-cluster:default/);
  assert.match(e.hint, /not the broad "view" role/);
});

test('a namespaced 403 suggests a Role and RoleBinding there', () => {
  assert.match(rbacFixFor({ namespace: 'a', name: 'b' }, 'team'), /kubectl create rolebinding podcount-pod-lister -n team --role=podcount-pod-lister --serviceaccount=a:b/);
});

test('401 names the token path and the ServiceAccount', () => {
  const e = fromApiFailure({ status: 401, message: 'Unauthorized' }, inCluster);
  assert.deepEqual([e.status, e.code], [502, 'unauthenticated']);
  assert.match(e.hint, /\/sa\/token/);
  assert.match(e.hint, /apps\/podcount/);
});

test('429 and 5xx are 503 with Retry-After; 400 is the caller\'s', () => {
  assert.deepEqual([fromApiFailure({ status: 429, message: 'Too many requests', retryAfter: 4 }, inCluster)].map((e) => [e.status, e.code, e.retryAfter]), [[503, 'cluster_unavailable', 4]]);
  const e5 = fromApiFailure({ status: 500, message: 'etcdserver: request timed out' }, inCluster);
  assert.deepEqual([e5.status, e5.code, typeof e5.retryAfter], [503, 'cluster_unavailable', 'number']);
  assert.deepEqual([fromApiFailure({ status: 400, message: 'unable to parse requirement' }, inCluster)].map((e) => [e.status, e.code]), [[400, 'bad_selector']]);
});

test('connection failures are 503 with a hint', () => {
  const refused = fromNetworkError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }), 'https://127.0.0.1:6443', '/sa/ca.crt');
  assert.deepEqual([refused.status, refused.code], [503, 'cluster_unavailable']);
  const tls = fromNetworkError(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), 'https://x', '/sa/ca.crt');
  assert.match(tls.hint, /\/sa\/ca\.crt/);
});
