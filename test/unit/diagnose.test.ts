// /diagnostics in-process: judge() on findings made up by the test (pure), and diagnose() through
// a stub API client answering the four questions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diagnose, judge, type ConnectionFindings, type Findings } from '../../function/diagnose.ts';
import { fromApiFailure } from '../../function/errors.ts';
import { apiResponse, jwt, stubApi, stubApp } from './stubs.ts';

const NOW = new Date('2026-11-23T07:00:00Z');
const identity = { source: 'in-cluster' as const, tokenPath: '/sa/token' };
const claims = { serviceAccount: { namespace: 'podcount', name: 'podcount' }, expiresAt: '2026-11-23T08:00:00.000Z' };
const ok = <T>(value: T): PromiseSettledResult<T> => ({ status: 'fulfilled', value });
const failed = (reason: unknown): PromiseSettledResult<never> => ({ status: 'rejected', reason });

function findings(connection: Partial<ConnectionFindings> | undefined, o: Partial<Findings> = {}): Findings {
  return {
    scope: 'cluster',
    config: { source: 'in-cluster', server: 'https://10.0.0.1:443', namespace: 'podcount', serviceAccountDir: '/sa', notes: [] },
    why: undefined,
    connection: connection && {
      source: 'in-cluster', identity, claims, credentialsError: undefined,
      version: ok('v1.36.3'), self: ok({ username: 'system:serviceaccount:podcount:podcount', groups: ['system:authenticated'] }),
      clusterWide: ok({ allowed: true }), inOwnNamespace: ok({ allowed: true }),
      ...connection,
    },
    ...o,
  };
}

test('everything in order: ok, with the server, the identity, the token\'s expiry and both permissions', () => {
  const d = judge(findings({}), NOW);
  assert.equal(d.ok, true, JSON.stringify(d.problems));
  assert.deepEqual(d.apiServer, { reachable: true, version: 'v1.36.3' });
  assert.deepEqual(d.identity, { username: 'system:serviceaccount:podcount:podcount', groups: ['system:authenticated'], from: 'SelfSubjectReview' });
  assert.equal(d.token?.expiresInSeconds, 3600);
  assert.deepEqual(d.permissions, { listPodsClusterWide: { allowed: true }, listPodsInOwnNamespace: { allowed: true, namespace: 'podcount' } });
});

test('no cluster configuration: that one problem, and nothing asked', () => {
  const d = judge(findings(undefined, { why: 'no kubeconfig found', config: { source: 'none', server: null, namespace: null, serviceAccountDir: '/sa', notes: [] } }), NOW);
  assert.equal(d.ok, false);
  assert.deepEqual(d.problems.map((p) => [p.code, p.message]), [['no_cluster_config', 'no kubeconfig found']]);
  assert.equal(d.apiServer.reachable, false);
});

test('allowed in its own namespace only, at cluster scope: forbidden with the exact fix, and the scope is wrong', () => {
  const d = judge(findings({ clusterWide: ok({ allowed: false }) }), NOW);
  assert.deepEqual(d.problems.map((p) => p.code), ['forbidden', 'scope_mismatch']);
  assert.match(d.problems[0]!.hint, /kubectl create clusterrolebinding podcount-pod-lister --clusterrole=podcount-pod-lister --serviceaccount=podcount:podcount/);
  assert.match(d.problems[1]!.hint, /PODCOUNT_SCOPE=namespace/);
  // The same permissions are enough for namespace scope.
  assert.equal(judge(findings({ clusterWide: ok({ allowed: false }) }, { scope: 'namespace' }), NOW).ok, true);
});

test('a token the server refuses: the 401 reaches every check but is said once; identity falls back to the claims', () => {
  const refused = fromApiFailure({ status: 401, message: 'Unauthorized' }, identity);
  const d = judge(findings({ version: failed(refused), self: failed(refused), clusterWide: failed(refused), inOwnNamespace: failed(refused) }), NOW);
  assert.deepEqual(d.problems.map((p) => p.code), ['unauthenticated']);
  assert.deepEqual(d.identity, { username: 'system:serviceaccount:podcount:podcount', groups: [], from: 'token claims' });
});

test('token trouble: expired, unreadable, or no longer re-readable while the last good one is used', () => {
  const expired = judge(findings({ claims: { ...claims, expiresAt: '2026-11-23T06:00:00.000Z' } }), NOW);
  assert.deepEqual(expired.problems.map((p) => p.code), ['token_expired']);
  assert.equal(expired.token?.expiresInSeconds, -3600);
  const none = judge(findings({ claims: undefined, credentialsError: 'cannot read /sa/token: ENOENT' }), NOW);
  assert.deepEqual(none.problems.map((p) => [p.code, p.message]), [['token_unreadable', 'No readable token at /sa/token (cannot read /sa/token: ENOENT).']]);
  const stale = judge(findings({ credentialsError: '/sa/token is empty' }), NOW);
  assert.deepEqual(stale.problems.map((p) => p.code), ['token_unreadable']);
  assert.match(stale.problems[0]!.message, /keeps using the one it read before/);
});

test('diagnose() asks the API server through the app\'s client and judges the answers', async () => {
  const asked: string[] = [];
  const api = stubApi((method, path, body) => {
    asked.push(`${method} ${path}`);
    if (path === '/version') return apiResponse(200, { gitVersion: 'v1.36.3' });
    if (path.endsWith('/selfsubjectreviews')) return apiResponse(201, { status: { userInfo: { username: 'system:serviceaccount:test-in-cluster:default', groups: ['system:serviceaccounts'] } } });
    const namespace = (body as { spec: { resourceAttributes: { namespace?: string } } }).spec.resourceAttributes.namespace;
    return apiResponse(201, { status: { allowed: false, ...(namespace ? {} : { reason: 'no RBAC policy matched' }) } });
  }, { token: jwt({ exp: Date.parse('2026-11-23T08:00:00Z') / 1000, 'kubernetes.io': { namespace: 'test-in-cluster', serviceaccount: { name: 'default' } } }), ownNamespace: 'test-in-cluster' });
  const d = await diagnose(stubApp({ api, ownNamespace: 'test-in-cluster' }), NOW);
  assert.deepEqual(asked.sort(), ['GET /version', 'POST /apis/authentication.k8s.io/v1/selfsubjectreviews', 'POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews']);
  assert.equal(d.ok, false);
  assert.deepEqual(d.config, { source: 'in-cluster', server: 'https://10.0.0.1:443', namespace: 'test-in-cluster', serviceAccountDir: '/var/run/secrets/kubernetes.io/serviceaccount', notes: [] });
  assert.equal(d.identity.from, 'SelfSubjectReview');
  assert.deepEqual(d.permissions.listPodsClusterWide, { allowed: false, reason: 'no RBAC policy matched' });
  assert.deepEqual(d.permissions.listPodsInOwnNamespace, { allowed: false, namespace: 'test-in-cluster' });
  assert.equal(d.token?.expiresInSeconds, 3600);
  assert.deepEqual(d.problems.map((p) => p.code), ['forbidden']);
  assert.match(d.problems[0]!.hint, /--serviceaccount=test-in-cluster:default/);
});

test('judge: every finding becomes a report field or a problem, each said once', () => {
  // No cluster configuration: the reason, the default report, nothing else.
  const none = judge(findings(undefined, { why: 'no token mounted' }), NOW);
  assert.deepEqual({ ...none, config: null }, { ok: false, scope: 'cluster', config: null, apiServer: { reachable: false, version: null }, identity: { username: null, groups: [], from: null }, token: null, permissions: { listPodsClusterWide: null, listPodsInOwnNamespace: null }, auth: { mode: 'none' }, problems: [{ code: 'no_cluster_config', message: 'no token mounted', hint: 'In a pod, keep the ServiceAccount token mounted; outside, set KUBECONFIG.' }] });
  assert.equal(judge(findings(undefined), NOW).problems[0]?.message, 'no cluster configuration');
  // An expired token (exactly now counts), identity from its claims when SelfSubjectReview says nothing.
  const expired = judge(findings({ claims: { ...claims, expiresAt: NOW.toISOString() }, self: ok(undefined) }), NOW);
  assert.deepEqual(expired.problems.map((p) => p.code), ['token_expired']);
  assert.match(expired.problems[0]!.message, /^The token expired at 2026-11-23T07:00:00.000Z\.$/);
  assert.deepEqual(expired.identity, { username: 'system:serviceaccount:podcount:podcount', groups: [], from: 'token claims' });
  assert.equal(expired.token?.expiresInSeconds, 0);
  // No token in a pod: unreadable, with the path and why; from a kubeconfig: the kubeconfig's user.
  const unreadable = judge(findings({ claims: undefined, credentialsError: 'ENOENT', self: ok(undefined) }), NOW);
  assert.deepEqual(unreadable.problems.map((p) => [p.code, p.message]), [['token_unreadable', 'No readable token at /sa/token (ENOENT).']]);
  assert.equal(unreadable.identity.username, null);
  const kubeconfig = judge(findings({ source: 'kubeconfig', claims: undefined, self: ok(undefined), identity: { source: 'kubeconfig', kubeconfig: '/k', username: 'alice' } }), NOW);
  assert.deepEqual([kubeconfig.identity, kubeconfig.problems], [{ username: 'alice', groups: [], from: 'kubeconfig' }, []]);
  // The same 401 from three checks is one problem; a version failure is a problem; a bug is 'internal'.
  const unauthorized = fromApiFailure({ status: 401, message: 'Unauthorized' }, identity);
  const refused = judge(findings({ version: failed(new Error('socket hang up')), self: failed(unauthorized), clusterWide: failed(unauthorized), inOwnNamespace: failed(unauthorized) }), NOW);
  assert.deepEqual(refused.problems.map((p) => p.code), ['internal', 'unauthenticated']);
  assert.deepEqual(refused.problems[0], { code: 'internal', message: 'socket hang up', hint: 'This is a bug in podcount.' });
  assert.equal(refused.ok, false);
  assert.equal(judge(findings({ version: failed('plain') }), NOW).problems[0]?.message, 'plain');
  // Namespace scope: the permission in its own namespace is the one needed, with a Role fix.
  const ns = judge(findings({ inOwnNamespace: ok({ allowed: false }) }, { scope: 'namespace' }), NOW);
  assert.deepEqual(ns.permissions.listPodsInOwnNamespace, { allowed: false, namespace: 'podcount' });
  assert.equal(ns.problems[0]?.message, 'system:serviceaccount:podcount:podcount may not list pods in namespace podcount, which PODCOUNT_SCOPE=namespace needs.');
  assert.match(ns.problems[0]!.hint, /kubectl create rolebinding podcount-pod-lister -n podcount/);
  const nobody = judge(findings({ clusterWide: ok({ allowed: false }), inOwnNamespace: ok({ allowed: false }), self: ok(undefined), claims: { expiresAt: claims.expiresAt } }), NOW);
  assert.deepEqual(nobody.problems.map((p) => [p.message, p.hint]), [['podcount may not list pods at the cluster scope, which PODCOUNT_SCOPE=cluster needs.', 'Grant "list" on "pods" to this identity.']]);
});

test('without a cluster connection the report says its config source is none', async () => {
  const d = await diagnose(stubApp({ why: 'no kubeconfig found' }), NOW);
  assert.deepEqual([d.config.source, d.config.server, d.problems.map((p) => p.message)], ['none', null, ['no kubeconfig found']]);
});

test('the token section shows every claim read, and an expiry only when the token has one', () => {
  const bound = judge(findings({ claims: { ...claims, issuer: 'https://kubernetes.default.svc', boundTo: { kind: 'pod', name: 'web-1' } } }), NOW);
  assert.deepEqual(bound.token, { ...claims, issuer: 'https://kubernetes.default.svc', boundTo: { kind: 'pod', name: 'web-1' }, expiresInSeconds: 3600 });
  const legacy = judge(findings({ claims: { serviceAccount: { namespace: 'kube-system', name: 'default' } } }), NOW);
  assert.deepEqual(legacy.token, { serviceAccount: { namespace: 'kube-system', name: 'default' } }, 'a legacy token never expires');
  assert.equal(legacy.ok, true);
});

test('token problems come with their fix: a projected token for an expired one, the mount for an unreadable one', () => {
  const expired = judge(findings({ claims: { ...claims, expiresAt: '2026-11-23T06:00:00.000Z' } }), NOW);
  assert.equal(expired.problems[0]?.hint, 'The kubelet refreshes projected tokens; an expired one means the file is not a projected token (a copied Secret?) or the kubelet cannot reach the API server.');
  const missing = judge(findings({ claims: undefined }), NOW);
  assert.deepEqual(missing.problems, [{ code: 'token_unreadable', message: 'No readable token at /sa/token.', hint: 'Mount the ServiceAccount token (automountServiceAccountToken must not be false).' }]);
  const stale = judge(findings({ credentialsError: '/sa/token is empty' }), NOW);
  assert.equal(stale.problems[0]?.hint, 'Mount the ServiceAccount token (automountServiceAccountToken must not be false).');
});

test('a permission check that failed shows as null (not as an answer) next to its problem', () => {
  const down = fromApiFailure({ status: 503, message: 'etcd down' }, identity);
  const d = judge(findings({ clusterWide: failed(down), inOwnNamespace: failed(down) }), NOW);
  assert.deepEqual(d.permissions, { listPodsClusterWide: null, listPodsInOwnNamespace: null });
  assert.deepEqual(JSON.parse(JSON.stringify(d)).permissions, { listPodsClusterWide: null, listPodsInOwnNamespace: null });
  assert.deepEqual(d.problems.map((p) => p.code), ['cluster_unavailable']);
});

test('cluster scope without the cluster-wide grant names the namespace it may list in, or only the missing grant when it knows none', () => {
  const mismatch = judge(findings({ clusterWide: ok({ allowed: false }) }), NOW);
  assert.equal(mismatch.problems[1]?.message, 'podcount may list pods in its namespace podcount but not cluster-wide.');
  const noNamespace = judge(findings({ clusterWide: ok({ allowed: false }), inOwnNamespace: ok(undefined) }, { config: { source: 'in-cluster', server: 'https://10.0.0.1:443', namespace: null, serviceAccountDir: '/sa', notes: [] } }), NOW);
  assert.deepEqual(noNamespace.problems.map((p) => p.code), ['forbidden']);
  assert.equal(noNamespace.permissions.listPodsInOwnNamespace, null);
});
