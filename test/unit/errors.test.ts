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

test('every failure names what went wrong and what to do about it', async () => {
  const { badRequestTarget, bodyTooLarge, callerCheckUnavailable, callerForbidden, fromReviewFailure, internal, methodNotAllowed, noClusterConfig, notAcceptable, notFound, unreadableBody, upstreamNotJson, PodcountError } = await import('../../function/errors.ts');
  const kubeconfig = { source: 'kubeconfig' as const, kubeconfig: '/home/me/.kube/config' };
  const cases: Array<[InstanceType<typeof PodcountError>, number, string, RegExp, RegExp]> = [
    [fromApiFailure({ status: 400, message: 'unable to parse requirement' }, inCluster), 400, 'bad_selector', /rejected the query: unable to parse requirement/, /labelSelector=app%3Dweb.*status\.phase/],
    [fromApiFailure({ status: 410, message: 'too old' }, inCluster), 503, 'cluster_unavailable', /kept expiring.*\(too old\)/, /PODCOUNT_PAGE_SIZE/],
    [fromApiFailure({ status: 429, message: 'slow down' }, inCluster), 503, 'cluster_unavailable', /throttling requests: slow down/, /Priority and Fairness/],
    [fromApiFailure({ status: 503, message: 'etcd down' }, inCluster), 503, 'cluster_unavailable', /failed with 503: etcd down/, /etcd unavailable/],
    [fromApiFailure({ status: 404, message: 'the server could not find' }, inCluster), 502, 'upstream_error', /answered 404: the server could not find/, /\/diagnostics/],
    [fromApiFailure({ status: 401, message: 'Unauthorized' }, kubeconfig), 502, 'unauthenticated', /401 Unauthorized/, /kubeconfig \/home\/me\/\.kube\/config were not accepted \(Unauthorized\)/],
    [fromApiFailure({ status: 403, message: '' }, { source: 'in-cluster', tokenPath: '/t' }), 502, 'forbidden', /forbids listing pods/, /Grant this identity "list" on "pods" at the cluster scope/],
    [fromApiFailure({ status: 403, message: 'User "alice" cannot', namespace: 'team' }, inCluster), 502, 'forbidden', /alice/, /Grant alice "list" on "pods" in namespace team/],
    [upstreamNotJson('text/html'), 502, 'upstream_error', /not JSON \(text\/html\)/, /KUBERNETES_SERVICE_HOST/],
    [upstreamNotJson(undefined), 502, 'upstream_error', /no content type/, /proxy/],
    [fromNetworkError(Object.assign(new Error('x'), { code: 'ETIMEDOUT' }), 'https://s', undefined), 503, 'cluster_unavailable', /https:\/\/s did not answer in time/, /PODCOUNT_API_TIMEOUT_MS/],
    [fromNetworkError(new Error('request timed out'), 'https://s', undefined), 503, 'cluster_unavailable', /did not answer in time/, /PODCOUNT_API_TIMEOUT_MS/],
    [fromNetworkError(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }), 'https://s', undefined), 503, 'cluster_unavailable', /did not answer in time/, /overloaded/],
    [fromNetworkError(Object.assign(new Error('headers'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'https://s', undefined), 503, 'cluster_unavailable', /did not answer in time/, /overloaded/],
    [fromNetworkError(Object.assign(new Error('Hostname/IP does not match certificate\'s altnames'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), 'https://s', undefined), 503, 'cluster_unavailable', /TLS to https:\/\/s failed: Hostname/, /certificate-authority of the current kubeconfig/],
    [fromNetworkError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'https://s', '/ca'), 503, 'cluster_unavailable', /Cannot reach the API server at https:\/\/s: ECONNREFUSED/, /NetworkPolicy/],
    [fromNetworkError('socket closed', 'https://s', '/ca'), 503, 'cluster_unavailable', /https:\/\/s: socket closed/, /egress/],
    [callerForbidden('system:serviceaccount:a:b', 'team', 'no RBAC policy matched'), 403, 'caller_forbidden', /User "system:serviceaccount:a:b" cannot list resource "pods" in API group "" in the namespace "team": no RBAC policy matched/, /kubectl/],
    [callerForbidden('alice', undefined, undefined), 403, 'caller_forbidden', /"alice" cannot list resource "pods" in API group "" at the cluster scope$/, /alice/],
    [fromReviewFailure({ status: 403, message: '' }, inCluster, 'tokenreviews'), 502, 'forbidden', /may not create tokenreviews \(403\)/, /apps:podcount/],
    [fromReviewFailure({ status: 404, message: 'gone' }, inCluster, 'subjectaccessreviews'), 502, 'upstream_error', /answered 404 to a subjectaccessreviews request: gone/, /authorization\.k8s\.io\/v1.*PODCOUNT_AUTH=none/],
    [fromReviewFailure({ status: 429, message: 'busy' }, inCluster, 'tokenreviews'), 503, 'cluster_unavailable', /could not check the caller: The API server is throttling/, /No count is given without that check/],
    [fromReviewFailure({ status: 401, message: 'Unauthorized' }, inCluster, 'tokenreviews'), 502, 'unauthenticated', /401/, /\/sa\/token/],
    [callerCheckUnavailable(notFound('/x')), 404, 'not_found', /\/x/, /\/healthz/],
    [noClusterConfig('no token'), 503, 'no_cluster_config', /no cluster to talk to: no token/, /automountServiceAccountToken.*KUBECONFIG/],
    [badRequestTarget('http://[bad'), 400, 'bad_request', /"http:\/\/\[bad" is not a URL path/, /GET \//],
    [notFound('/pods'), 404, 'not_found', /Nothing at "\/pods"/, /\/, \/healthz and \/diagnostics/],
    [methodNotAllowed('GET, HEAD'), 405, 'method_not_allowed', /answers GET, HEAD/, /POST \/ takes a CloudEvent/],
    [notAcceptable('image/png'), 406, 'not_acceptable', /"image\/png"/, /text\/plain/],
    [bodyTooLarge(1024), 413, 'body_too_large', /larger than 1024 bytes/, /PODCOUNT_MAX_BODY_BYTES/],
    [unreadableBody(new Error('aborted')), 400, 'bad_request', /could not be read: aborted/, /again/],
    [internal(new Error('boom')), 500, 'internal', /unexpectedly: boom/, /bug in podcount/],
    [internal('plain'), 500, 'internal', /unexpectedly: plain/, /report it/],
  ];
  for (const [e, status, code, message, hint] of cases) {
    assert.deepEqual([e.status, e.code], [status, code], e.message);
    assert.match(e.message, message);
    assert.match(e.hint, hint, e.message);
    assert.deepEqual(e.toBody(), { error: { code, message: e.message, hint: e.hint } });
  }
  assert.equal(methodNotAllowed('GET').headers['allow'], 'GET');
  assert.equal(fromApiFailure({ status: 503, message: 'x' }, inCluster).retryAfter, 2, 'a 5xx without Retry-After still says when to retry');
  assert.equal(fromApiFailure({ status: 410, message: 'x', retryAfter: 9 }, inCluster).retryAfter, 9);
});

test('401 from the API server names the ServiceAccount, or the user, or nothing when unknown', () => {
  const hint = (username?: string) => fromApiFailure({ status: 401, message: 'Unauthorized' }, { source: 'in-cluster', tokenPath: '/t', ...(username ? { username } : {}) }).hint;
  assert.match(hint('system:serviceaccount:apps:podcount'), /the ServiceAccount apps\/podcount still exists/);
  assert.match(hint('alice'), /the ServiceAccount alice still exists/);
  assert.match(hint(), /the ServiceAccount still exists/);
  assert.match(hint(), /The token in \/t was not accepted \(Unauthorized\)/);
});

test('a binary-mode event error names the header only for a bare attribute name', async () => {
  const { badEvent } = await import('../../function/errors.ts');
  assert.equal(badEvent('id', 'is empty', 'binary').message, 'Not a valid CloudEvent: id (header ce-id) is empty.');
  assert.equal(badEvent('datacontenttype', 'is empty', 'binary').message, 'Not a valid CloudEvent: datacontenttype (header Content-Type) is empty.');
  // Descriptions already say where the fault is (or are not one header): no header is added to them.
  assert.equal(badEvent('extension "a_b" (header ce-a_b)', 'has an invalid name', 'binary').message, 'Not a valid CloudEvent: extension "a_b" (header ce-a_b) has an invalid name.');
  assert.equal(badEvent('the event data', 'is missing', 'binary').message, 'Not a valid CloudEvent: the event data is missing.');
  assert.equal(badEvent('id', 'is empty', 'structured').message, 'Not a valid CloudEvent: id is empty.');
});

test('a list a breakdown cannot read is a 502 upstream_error that says to count without groupBy', async () => {
  const { upstreamUnexpected } = await import('../../function/errors.ts');
  const e = upstreamUnexpected('a pod without status.phase');
  assert.deepEqual([e.status, e.code, e.message], [502, 'upstream_error', 'The API server sent a pod without status.phase.']);
  assert.match(e.hint, /count without groupBy.*GET \/diagnostics/);
});

test('an unknown groupBy is quoted (at most 80 characters) and the choices listed in message and hint', async () => {
  const { badGroupBy } = await import('../../function/errors.ts');
  const e = badGroupBy('x'.repeat(200), 'query', ['namespace', 'phase', 'node']);
  assert.deepEqual([e.status, e.code], [400, 'bad_parameter']);
  assert.equal(e.message, `query groupBy "${'x'.repeat(80)}" is not one of namespace, phase, node.`);
  assert.equal(e.hint, 'groupBy is one of namespace, phase, node, e.g. ?groupBy=namespace; omit it for the plain count.');
});

test('a connect timeout (undici: "Connect Timeout Error") is "did not answer in time", not "cannot reach"', () => {
  const e = fromNetworkError(Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), 'https://s', undefined);
  assert.equal(e.message, 'The API server at https://s did not answer in time.');
});

test('a very long request target or path is quoted in at most 100 characters', async () => {
  const { badRequestTarget, notFound } = await import('../../function/errors.ts');
  const long = `/${'p'.repeat(300)}`;
  assert.equal(badRequestTarget(long).message, `The request target ${JSON.stringify(long.slice(0, 100))} is not a URL path.`);
  assert.equal(notFound(long).message, `Nothing at ${JSON.stringify(long.slice(0, 100))}.`);
});

test('a caller\'s 401 says which problem its token has, in its own words', async () => {
  const { callerUnauthenticated } = await import('../../function/errors.ts');
  const message = (...args: Parameters<typeof callerUnauthenticated>) => callerUnauthenticated(...args).message;
  assert.equal(message('audience', ['podcount', 'podcount.example.com'], { tokenAudiences: ['https://kubernetes.default.svc', 'vault'] }),
    'The token is for audience "https://kubernetes.default.svc", "vault", not one podcount accepts ("podcount", "podcount.example.com").');
  assert.equal(message('audience', ['podcount']), 'The token is for audience (none), not one podcount accepts ("podcount").');
  assert.equal(message('audience', ['podcount'], { tokenAudiences: [] }), 'The token is for audience (none), not one podcount accepts ("podcount").');
  assert.equal(message('expired', ['podcount'], { expiresAt: '2026-11-23T06:00:00.000Z' }), 'The token expired at 2026-11-23T06:00:00.000Z.');
  assert.equal(message('expired', ['podcount']), 'The token expired.');
  assert.equal(message('rejected', ['podcount']), 'The API server does not accept the token (TokenReview).');
  assert.equal(message('malformed', ['podcount']), 'The Authorization header is not "Bearer <token>".');
});

test('podcount refused the reviews under an identity it cannot name: the fix has placeholders for its ServiceAccount', async () => {
  const { fromReviewFailure } = await import('../../function/errors.ts');
  const e = fromReviewFailure({ status: 403, message: '' }, { source: 'in-cluster', tokenPath: '/t' }, 'subjectaccessreviews');
  assert.deepEqual([e.status, e.code, e.message], [502, 'forbidden', 'podcount may not create subjectaccessreviews (403).']);
  assert.match(e.hint, /--serviceaccount=<namespace>:<name>/);
});
