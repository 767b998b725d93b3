// Caller authentication and authorization in-process, against a stub API server that answers
// TokenReviews and SubjectAccessReviews from tables the test holds: what each answer becomes
// (401, 403, 503, a count), what exactly is asked, how answers are reused and keyed, and the
// request path around it (open /healthz, guarded /diagnostics, the log line).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCallerAuth, type CallerAuth } from '../../function/caller-auth.ts';
import { loadConfig } from '../../function/config.ts';
import { fromNetworkError, type PodcountError } from '../../function/errors.ts';
import { apiResponse, jwt, stubApi, stubApp, withServer } from './stubs.ts';

const NOW = Date.parse('2026-11-23T07:00:00Z');
const sa = (ns: string, name: string, o: { aud?: string[]; exp?: number } = {}) =>
  jwt({ aud: o.aud ?? ['podcount'], exp: (o.exp ?? NOW + 3_600_000) / 1000, 'kubernetes.io': { namespace: ns, serviceaccount: { name } } });
const ALICE = sa('team-a', 'alice');
const BOB = sa('team-b', 'bob');
const userOf = (ns: string, name: string) => ({ username: `system:serviceaccount:${ns}:${name}`, uid: `uid-${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'], extra: { 'authentication.kubernetes.io/credential-id': [`JTI=${name}`] } });

interface Asked { path: string; body: any }

/**
 * An API server that knows ALICE and BOB (for audience podcount) and lets `may(user, namespace)`
 * decide lists; `fail` makes a review answer with that status instead.
 */
function server(o: { may?: (username: string, attrs: Record<string, unknown>) => boolean; fail?: number | 'network' } = {}) {
  const asked: Asked[] = [];
  const users = new Map([[ALICE, userOf('team-a', 'alice')], [BOB, userOf('team-b', 'bob')]]);
  const api = stubApi((_method, path, body: any) => {
    asked.push({ path, body });
    if (o.fail === 'network') throw fromNetworkError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'https://10.0.0.1:443', undefined);
    if (o.fail) return apiResponse(o.fail, { kind: 'Status', message: `failed with ${o.fail}` });
    if (path.endsWith('/tokenreviews')) {
      const user = users.get(body.spec.token);
      const aud = (JSON.parse(Buffer.from(String(body.spec.token).split('.')[1] ?? '', 'base64url').toString() || '{}') as { aud?: string[] }).aud ?? [];
      const granted = aud.filter((a: string) => body.spec.audiences.includes(a));
      return apiResponse(201, { status: user && granted.length ? { authenticated: true, user, audiences: granted } : { user: {}, error: '[invalid bearer token, token audiences ["x"] is invalid for the target audiences ["podcount"]]' } });
    }
    if (path.endsWith('/subjectaccessreviews')) return apiResponse(201, { status: { allowed: (o.may ?? (() => true))(body.spec.user, body.spec.resourceAttributes) } });
    return apiResponse(404, {});
  }, { token: jwt({ aud: ['https://kubernetes.default.svc.cluster.local'] }) });
  const reviews = (kind: 'tokenreviews' | 'subjectaccessreviews') => asked.filter((a) => a.path.endsWith(`/${kind}`));
  return { api, asked, reviews };
}

function auth(s: ReturnType<typeof server>, env: Record<string, string> = {}, o: { now?: () => number; scopeNamespace?: string } = {}): CallerAuth {
  return createCallerAuth({ api: s.api, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes', ...env }), scopeNamespace: o.scopeNamespace, now: o.now ?? (() => NOW) });
}

/** The keys caller-auth.ts hands its review caches while `use` runs (the caches are private). */
async function cacheKeysSeen(use: () => Promise<void>): Promise<string[]> {
  const { ReviewCache } = await import('../../function/review-cache.ts');
  const seen: string[] = [];
  const original = ReviewCache.prototype.get;
  ReviewCache.prototype.get = function (this: InstanceType<typeof ReviewCache>, key: string, ...rest: never[]) {
    seen.push(key);
    return (original as (...args: unknown[]) => Promise<unknown>).call(this, key, ...rest);
  } as typeof original;
  try {
    await use();
  } finally {
    ReviewCache.prototype.get = original;
  }
  return seen;
}

const rejection = async (p: Promise<unknown>): Promise<PodcountError> => {
  try {
    await p;
  } catch (err) {
    return err as PodcountError;
  }
  throw new Error('expected a rejection');
};

test('no token, or a header that is not "Bearer <token>": 401 with WWW-Authenticate, and nothing asked of the API server', async () => {
  const s = server();
  const a = auth(s);
  const missing = await rejection(a.authenticate(undefined));
  assert.deepEqual([missing.status, missing.code, missing.headers['www-authenticate']], [401, 'caller_unauthenticated', 'Bearer realm="podcount"']);
  assert.match(missing.hint, /kubectl create token <serviceaccount> -n <namespace> --audience=podcount/);
  for (const header of ['Basic YWxpY2U6cHc=', 'Bearer', 'Bearer a b', 'Bearer \u0001x', `Bearer ${'x'.repeat(20_000)}`, '']) {
    const e = await rejection(a.authenticate(header));
    assert.equal(e.status, 401, header.slice(0, 20));
    assert.match(e.headers['www-authenticate'] ?? '', /^Bearer realm="podcount"/);
  }
  assert.equal(s.asked.length, 0);
});

test('a token is reviewed for podcount\'s audiences, and the user it names is asked about exactly the list', async () => {
  const s = server();
  const a = auth(s, { PODCOUNT_AUTH_AUDIENCES: 'podcount,podcount.example.com' });
  const caller = await a.authenticate(`Bearer ${ALICE}`);
  assert.equal(caller.username, 'system:serviceaccount:team-a:alice');
  await a.authorize(caller, { namespace: 'shop', labelSelector: 'app=web', fieldSelector: 'status.phase=Running' });
  await a.authorize(caller, {});
  const [tr] = s.reviews('tokenreviews');
  assert.deepEqual(tr!.body, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: ALICE, audiences: ['podcount', 'podcount.example.com'] } });
  const [namespaced, clusterWide] = s.reviews('subjectaccessreviews');
  assert.deepEqual(namespaced!.body, {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
    spec: {
      user: 'system:serviceaccount:team-a:alice', uid: 'uid-alice', groups: userOf('team-a', 'alice').groups, extra: userOf('team-a', 'alice').extra,
      resourceAttributes: { verb: 'list', group: '', resource: 'pods', namespace: 'shop', labelSelector: { rawSelector: 'app=web' }, fieldSelector: { rawSelector: 'status.phase=Running' } },
    },
  });
  assert.deepEqual(clusterWide!.body.spec.resourceAttributes, { verb: 'list', group: '', resource: 'pods' }, 'no namespace: the cluster-wide list');
});

test('a token the API server refuses: 401, and the hint fits what the caller\'s own token says', async () => {
  const s = server();
  const a = auth(s);
  const wrongAudience = await rejection(a.authenticate(`Bearer ${sa('team-a', 'alice', { aud: ['https://kubernetes.default.svc.cluster.local'] })}`));
  assert.equal(wrongAudience.status, 401);
  assert.match(wrongAudience.message, /audience "https:\/\/kubernetes\.default\.svc\.cluster\.local", not one podcount accepts \("podcount"\)/);
  assert.match(wrongAudience.hint, /kubectl create token alice -n team-a --audience=podcount/);
  assert.match(wrongAudience.detail ?? '', /invalid for the target audiences/, 'the API server\'s reason goes to the log');
  const expired = await rejection(a.authenticate(`Bearer ${sa('team-a', 'carol', { exp: NOW - 60_000 })}`));
  assert.match(expired.message, /^The token expired at 2026-11-23T06:59:00\.000Z\.$/);
  assert.match(expired.hint, /kubectl create token carol -n team-a --audience=podcount/);
  const deleted = await rejection(a.authenticate(`Bearer ${sa('team-a', 'gone')}`));
  assert.match(deleted.hint, /ServiceAccount team-a\/gone: the ServiceAccount or the object the token is bound to/);
  const opaque = await rejection(a.authenticate('Bearer not-a-jwt'));
  assert.match(opaque.hint, /not a ServiceAccount token of this cluster/);
  for (const e of [wrongAudience, expired, deleted, opaque]) {
    assert.equal(e.code, 'caller_unauthenticated');
    assert.equal(e.headers['www-authenticate'], 'Bearer realm="podcount", error="invalid_token"');
  }
});

test('an authenticated review that confirms none of podcount\'s audiences is refused (an audience-unaware authenticator)', async () => {
  const api = stubApi(() => apiResponse(201, { status: { authenticated: true, user: userOf('x', 'y'), audiences: [] } }));
  const a = createCallerAuth({ api, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes' }), scopeNamespace: undefined });
  assert.equal((await rejection(a.authenticate('Bearer static-token'))).status, 401);
});

test('a list the caller may not make: 403 in the API server\'s words, with the grant for that caller', async () => {
  const s = server({ may: (user, attrs) => user.endsWith(':alice') && attrs['namespace'] === 'team-a' });
  const a = auth(s);
  const alice = await a.authenticate(`Bearer ${ALICE}`);
  await a.authorize(alice, { namespace: 'team-a' });
  const ns = await rejection(a.authorize(alice, { namespace: 'kube-system', labelSelector: 'app=web' }));
  assert.deepEqual([ns.status, ns.code], [403, 'caller_forbidden']);
  assert.equal(ns.message, 'pods is forbidden: User "system:serviceaccount:team-a:alice" cannot list resource "pods" in API group "" in the namespace "kube-system"');
  assert.match(ns.hint, /kubectl create rolebinding pod-lister-team-a-alice -n kube-system --clusterrole=pod-lister --serviceaccount=team-a:alice/);
  assert.match(ns.hint, /kubectl auth can-i list pods -n kube-system --as=system:serviceaccount:team-a:alice/);
  const cluster = await rejection(a.authorize(alice, {}));
  assert.equal(cluster.message, 'pods is forbidden: User "system:serviceaccount:team-a:alice" cannot list resource "pods" in API group "" at the cluster scope');
  assert.match(cluster.hint, /kubectl create clusterrolebinding pod-lister-team-a-alice --clusterrole=pod-lister --serviceaccount=team-a:alice/);
});

test('a Knative Trigger\'s OIDC identity is named as such in the hint', async () => {
  const s = server({ may: () => false });
  const a = auth(s);
  const trigger = { ...userOf('podcount', 'podcount-ping-oidc-eventing.knative.dev-trigger'), identityKey: 'k' };
  trigger.username = 'system:serviceaccount:podcount:podcount-ping-oidc-eventing.knative.dev-trigger';
  const e = await rejection(a.authorize(trigger, {}));
  assert.match(e.hint, /OIDC identity Knative Eventing gives Trigger podcount\/podcount-ping/);
});

test('answers are reused within the ttl, keyed so that no caller is ever answered with another\'s decision', async () => {
  let now = NOW;
  const s = server({ may: (user) => user.endsWith(':alice') });
  const a = auth(s, {}, { now: () => now });
  const alice = await a.authenticate(`Bearer ${ALICE}`);
  const bob = await a.authenticate(`Bearer ${BOB}`);
  assert.equal((await a.authenticate(`Bearer ${ALICE}`)).username, alice.username);
  assert.equal(s.reviews('tokenreviews').length, 2, 'one TokenReview per token');
  await a.authorize(alice, { namespace: 'shop' });
  await a.authorize(alice, { namespace: 'shop' });
  await assert.rejects(a.authorize(bob, { namespace: 'shop' }), { status: 403 });
  await a.authorize(alice, { namespace: 'shop', labelSelector: 'app=web' });
  await a.authorize(alice, {});
  assert.equal(s.reviews('subjectaccessreviews').length, 4, 'one per user and exact question');
  const report = a.report();
  assert.deepEqual(report.cache, { ttlSeconds: 10, maxEntries: 1024, tokenReviews: { held: 2, sent: 2 }, accessReviews: { held: 4, sent: 4 } });
  now += 10_000;
  await a.authenticate(`Bearer ${ALICE}`);
  await a.authorize(alice, { namespace: 'shop' });
  assert.deepEqual([s.reviews('tokenreviews').length, s.reviews('subjectaccessreviews').length], [3, 5], 'asked again after 10 s');
});

test('cache keys hold no token: a SHA-256 of it, and of the user with the exact question', async () => {
  const seen = await cacheKeysSeen(async () => {
    const b = auth(server());
    const bob = await b.authenticate(`Bearer ${BOB}`);
    await b.authorize(bob, { namespace: 'shop', labelSelector: 'app=web' });
    await b.authorize(bob, { namespace: 'shop', labelSelector: `app in (${'x,'.repeat(200)}y)` });
  });
  const [tokenKey, shortQuestion, longQuestion] = seen;
  assert.match(tokenKey!, /^[A-Za-z0-9_-]{43}$/);
  assert.match(shortQuestion!, /^[A-Za-z0-9_-]{43}\n\["shop","app=web",null\]$/);
  assert.match(longQuestion!, /^[A-Za-z0-9_-]{43}\n[A-Za-z0-9_-]{43}$/, 'a long question is hashed too');
  for (const key of seen) for (const part of BOB.split('.')) assert.ok(!key.includes(part));
});

test('a token\'s answer is not kept past the token\'s own expiry', async () => {
  let now = NOW;
  let reviews = 0;
  const api = stubApi(() => (reviews++, apiResponse(201, { status: { authenticated: true, user: userOf('team-a', 'alice'), audiences: ['podcount'] } })));
  const a = createCallerAuth({ api, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes' }), scopeNamespace: undefined, now: () => now });
  const soon = `Bearer ${sa('team-a', 'alice', { exp: NOW + 4_000 })}`;
  await a.authenticate(soon);
  now += 3_999;
  await a.authenticate(soon);
  assert.equal(reviews, 1);
  now += 1;
  await a.authenticate(soon);
  assert.equal(reviews, 2, 'reviewed again once the token expired');
});

test('200 concurrent callers with the same token cost one TokenReview and one SubjectAccessReview', async () => {
  const s = server();
  const a = auth(s);
  await Promise.all(Array.from({ length: 200 }, async () => a.authorize(await a.authenticate(`Bearer ${ALICE}`), { namespace: 'shop' })));
  assert.deepEqual([s.reviews('tokenreviews').length, s.reviews('subjectaccessreviews').length], [1, 1]);
});

test('fail closed: an API server that cannot answer a review gives 503 with Retry-After; one that refuses podcount, 502 with the fix', async () => {
  for (const fail of [503, 500, 429, 'network'] as const) {
    const e = await rejection(auth(server({ fail })).authenticate(`Bearer ${ALICE}`));
    assert.deepEqual([e.status, e.code], [503, 'cluster_unavailable'], String(fail));
    assert.match(e.message, /^podcount could not check the caller: /);
    assert.equal(typeof e.retryAfter, 'number');
  }
  const forbidden = await rejection(auth(server({ fail: 403 })).authenticate(`Bearer ${ALICE}`));
  assert.deepEqual([forbidden.status, forbidden.code], [502, 'forbidden']);
  assert.match(forbidden.hint, /kubectl create clusterrole podcount-caller-reviews --verb=create --resource=tokenreviews\.authentication\.k8s\.io,subjectaccessreviews\.authorization\.k8s\.io/);
  const own401 = await rejection(auth(server({ fail: 401 })).authenticate(`Bearer ${ALICE}`));
  assert.deepEqual([own401.status, own401.code], [502, 'unauthenticated'], 'podcount\'s own token refused: its problem, not the caller\'s');
  // A failure is not kept: once the API server answers, the same caller gets through.
  let down = true;
  const flaky = stubApi((_m, path) => (down ? apiResponse(503, { message: 'etcd' }) : path.endsWith('/tokenreviews')
    ? apiResponse(201, { status: { authenticated: true, user: userOf('team-a', 'alice'), audiences: ['podcount'] } })
    : apiResponse(201, { status: { allowed: true } })));
  const b = createCallerAuth({ api: flaky, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes' }), scopeNamespace: undefined });
  await assert.rejects(b.authenticate(`Bearer ${ALICE}`), { status: 503 });
  down = false;
  assert.equal((await b.authenticate(`Bearer ${ALICE}`)).username, 'system:serviceaccount:team-a:alice');
});

test('without a cluster configuration every check is 503 no_cluster_config', async () => {
  const a = createCallerAuth({ api: undefined, why: 'no kubeconfig', config: loadConfig({ PODCOUNT_AUTH: 'kubernetes' }), scopeNamespace: undefined });
  assert.equal((await rejection(a.authenticate(`Bearer ${ALICE}`))).code, 'no_cluster_config');
});

test('the request path: /healthz open, everything else checked, the user in the log line, the token nowhere in it', async () => {
  const s = server({ may: (user, attrs) => user.endsWith(':alice') && attrs['namespace'] === undefined });
  const callerAuth = auth(s);
  const app = stubApp({ callerAuth, env: { PODCOUNT_AUTH: 'kubernetes' } });
  await withServer(app, async (url) => {
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    for (const path of ['/', '/diagnostics', '/nowhere']) {
      const res = await fetch(`${url}${path}`);
      assert.equal(res.status, 401, path);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="podcount"');
      assert.equal((await res.json() as { error: { code: string } }).error.code, 'caller_unauthenticated');
    }
    const ok = await fetch(`${url}/`, { headers: { authorization: `Bearer ${ALICE}` } });
    assert.equal(ok.status, 200);
    assert.equal((await ok.json() as { count: number }).count, 32);
    const denied = await fetch(`${url}/?namespace=kube-system`, { headers: { authorization: `Bearer ${ALICE}`, accept: 'text/plain' } });
    assert.equal(denied.status, 403);
    assert.equal((await denied.json() as { error: { code: string } }).error.code, 'caller_forbidden');
    const bob = await fetch(`${url}/`, { method: 'POST', headers: { authorization: `Bearer ${BOB}`, 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/t', 'ce-type': 't', 'content-type': 'application/json' }, body: '{}' });
    assert.equal(bob.status, 403, 'a CloudEvent is checked like any request');
    const diagnostics = await fetch(`${url}/diagnostics`, { headers: { authorization: `Bearer ${ALICE}` } });
    assert.equal(diagnostics.status, 200);
    const report = await diagnostics.json() as { auth: { mode: string; audiences: string[]; caller: string } };
    assert.deepEqual([report.auth.mode, report.auth.audiences, report.auth.caller], ['kubernetes', ['podcount'], 'system:serviceaccount:team-a:alice']);
    assert.equal((await fetch(`${url}/diagnostics`, { headers: { authorization: `Bearer ${BOB}` } })).status, 403, '/diagnostics needs what podcount itself may list');
  });
  assert.equal(app.calls.count.length, 1, 'only the allowed request counted');
  const invocations = app.lines.filter((l) => l.msg === 'invocation');
  assert.deepEqual(invocations.map((l) => [l['status'], l['user'] ?? null]), [
    [401, null], [401, null], [401, null],
    [200, 'system:serviceaccount:team-a:alice'], [403, 'system:serviceaccount:team-a:alice'], [403, 'system:serviceaccount:team-b:bob'],
    [200, 'system:serviceaccount:team-a:alice'], [403, 'system:serviceaccount:team-b:bob'],
  ]);
  const logged = JSON.stringify(app.lines);
  for (const token of [ALICE, BOB]) for (const part of token.split('.')) if (part.length > 8) assert.ok(!logged.includes(part), 'no part of a token is logged');
});

test('with PODCOUNT_DIAGNOSTICS=off /diagnostics is 404, for checked callers only; auth off reports mode none', async () => {
  const app = stubApp({ callerAuth: auth(server()), env: { PODCOUNT_AUTH: 'kubernetes', PODCOUNT_DIAGNOSTICS: 'off' } });
  await withServer(app, async (url) => {
    assert.equal((await fetch(`${url}/diagnostics`)).status, 401);
    assert.equal((await fetch(`${url}/diagnostics`, { headers: { authorization: `Bearer ${ALICE}` } })).status, 404);
  });
  await withServer(stubApp(), async (url) => {
    const report = await (await fetch(`${url}/diagnostics`)).json() as { auth: unknown };
    assert.deepEqual(report.auth, { mode: 'none' });
  });
});

test('at start podcount says whether it may review callers (the fix when not), and refuses its own API audience', async () => {
  const warmUp = async (o: { allowed?: Record<string, boolean>; status?: number; network?: boolean; ownAud?: string[]; env?: Record<string, string>; username?: string }) => {
    const asked: unknown[] = [];
    const api = stubApi((_m, path, body) => {
      asked.push([path, body]);
      if (o.network) throw new Error('connect ECONNREFUSED');
      const resource = (body as { spec: { resourceAttributes: { resource: string } } }).spec.resourceAttributes.resource;
      return apiResponse(o.status ?? 201, { status: { allowed: o.allowed?.[resource] ?? true } });
    }, { token: jwt({ aud: o.ownAud ?? ['https://kubernetes.default.svc.cluster.local'] }) });
    if (o.username) (api.target.identity as { username?: string }).username = o.username;
    const app = stubApp();
    await createCallerAuth({ api, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes', ...o.env }), scopeNamespace: undefined }).warmUp(app.log);
    return { lines: app.lines.filter((l) => l.msg !== 'listening'), asked };
  };
  const ok = await warmUp({});
  assert.deepEqual(ok.lines.map((l) => [l.level, l.msg, l['audiences']]), [['info', 'callers are checked: TokenReview for these audiences, then SubjectAccessReview for the list they ask', ['podcount']]]);
  assert.deepEqual(ok.asked, [
    ['/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' } } }],
    ['/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', group: 'authorization.k8s.io', resource: 'subjectaccessreviews' } } }],
  ]);
  const missing = await warmUp({ allowed: { subjectaccessreviews: false }, username: 'system:serviceaccount:podcount:podcount' });
  assert.deepEqual(missing.lines.map((l) => [l.level, l['missing']]), [['warn', ['subjectaccessreviews.authorization.k8s.io']]]);
  assert.match(missing.lines[0]!.msg, /--serviceaccount=podcount:podcount/);
  const both = await warmUp({ allowed: { tokenreviews: false, subjectaccessreviews: false } });
  assert.deepEqual(both.lines[0]?.['missing'], ['tokenreviews.authentication.k8s.io', 'subjectaccessreviews.authorization.k8s.io']);
  assert.match(both.lines[0]!.msg, /--serviceaccount=<namespace>:<name>/);
  const refused = await warmUp({ status: 403 });
  assert.deepEqual(refused.lines.map((l) => [l.level, l.msg]), [['warn', 'could not check whether podcount may review callers; every request will try']]);
  const down = await warmUp({ network: true });
  assert.deepEqual(down.lines.map((l) => [l.level, l['err']]), [['warn', 'connect ECONNREFUSED']]);
  const clash = await warmUp({ ownAud: ['https://kubernetes.default.svc.cluster.local', 'podcount'] });
  assert.equal(clash.lines[0]?.level, 'error');
  assert.match(clash.lines[0]!.msg, /^PODCOUNT_AUTH_AUDIENCES includes podcount, the audience of podcount's own API token/);
  const other = await warmUp({ ownAud: ['elsewhere'] });
  assert.equal(other.lines.filter((l) => l.level === 'error').length, 0, 'an unrelated own audience is fine');
});

test('a review answer that is not JSON, or a SubjectAccessReview with a reason, or a TokenReview with no user', async () => {
  const api = (answer: (path: string) => ReturnType<typeof apiResponse>) => createCallerAuth({ api: stubApi((_m, path) => answer(path)), why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes' }), scopeNamespace: 'team' });
  const garbage = api(() => ({ status: 201, headers: {}, body: Buffer.from('<html>'), credentialsReloaded: false }));
  const e = await rejection(garbage.authenticate(`Bearer ${ALICE}`));
  assert.deepEqual([e.status, e.code], [503, 'cluster_unavailable'], 'no count without the check; a Broker retries');
  assert.match(e.message, /could not check the caller: .*a tokenreviews answer that is not JSON/);
  assert.deepEqual(garbage.scopeQuestion, { namespace: 'team' });
  const noUser = api(() => apiResponse(201, { status: { authenticated: true, user: {}, audiences: ['podcount'] } }));
  assert.equal((await rejection(noUser.authenticate(`Bearer ${ALICE}`))).status, 401);
  const noAudience = api(() => apiResponse(201, { status: { authenticated: true, user: { username: 'u' } } }));
  const na = await rejection(noAudience.authenticate(`Bearer ${ALICE}`));
  assert.equal(na.status, 401);
  assert.match(na.detail ?? '', /did not confirm/);
  const denied = api((path) => path.endsWith('/tokenreviews')
    ? apiResponse(201, { status: { authenticated: true, user: { username: 'u', uid: 'x' }, audiences: ['podcount'] } })
    : apiResponse(201, { status: { allowed: false, reason: 'no binding' } }));
  const caller = await denied.authenticate(`Bearer ${ALICE}`);
  assert.deepEqual([caller.username, caller.uid, caller.groups, caller.extra], ['u', 'x', [], {}]);
  const f = await rejection(denied.authorize(caller, { namespace: 'team' }));
  assert.match(f.message, /in the namespace "team": no binding$/);
});

test('the Bearer scheme: case-insensitive, one token, spaces around it tolerated, nothing before it', async () => {
  const s = server();
  const a = auth(s);
  assert.equal((await a.authenticate(`bearer   ${ALICE}  `)).username, 'system:serviceaccount:team-a:alice');
  assert.equal((await rejection(a.authenticate(`Basic Bearer ${ALICE}`))).status, 401);
  assert.equal((await rejection(a.authenticate(`Bearer${ALICE}`))).status, 401);
  assert.equal((await rejection(a.authenticate('   '))).status, 401);
  const long = `Bearer ${'a'.repeat(16 * 1024)}`;
  const tooLong = `Bearer ${'a'.repeat(16 * 1024 + 1)}`;
  assert.equal((await rejection(a.authenticate(long))).code, 'caller_unauthenticated');
  assert.equal(s.reviews('tokenreviews').length, 2, 'a 16 KiB token is still reviewed (and refused by the server)');
  await rejection(a.authenticate(tooLong));
  assert.equal(s.reviews('tokenreviews').length, 2, 'a longer one is refused before any review');
});

test('no two questions or users share a decision: each field of the question, the uid and each extra value count', async () => {
  const s = server();
  const a = auth(s);
  const alice = await a.authenticate(`Bearer ${ALICE}`);
  const questions = [{ namespace: 'shop' }, { namespace: 'shop', fieldSelector: 'a=b' }, { namespace: 'shop', fieldSelector: 'c=d' }, { namespace: 'shop', labelSelector: 'a=b' }, { namespace: 'shop', labelSelector: 'c=d' }];
  for (const q of questions) await a.authorize(alice, q);
  assert.equal(s.reviews('subjectaccessreviews').length, questions.length, 'one review per distinct question');
  const variants = [{ ...alice, uid: 'other-uid', identityKey: '' }, { ...alice, extra: { 'authentication.kubernetes.io/credential-id': ['JTI=other'] }, identityKey: '' }];
  // The identity key is made by authenticate(); derive the variants' through a review that names them.
  for (const v of variants) {
    const s2 = server();
    const a2 = auth(s2);
    const same = await a2.authenticate(`Bearer ${ALICE}`);
    const apiUser = { ...userOf('team-a', 'alice'), uid: v.uid, extra: v.extra };
    const s3 = stubApi((_m, path) => path.endsWith('/tokenreviews') ? apiResponse(201, { status: { authenticated: true, user: apiUser, audiences: ['podcount'] } }) : apiResponse(201, { status: { allowed: true } }));
    const other = await createCallerAuth({ api: s3, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes' }), scopeNamespace: undefined, now: () => NOW }).authenticate(`Bearer ${ALICE}`);
    assert.notEqual(other.identityKey, same.identityKey, JSON.stringify(v));
  }
});

test('a token that expired this very moment is reported as expired; an empty header as missing', async () => {
  const s = server();
  const a = auth(s);
  const now = sa('team-a', 'carol', { exp: NOW });
  const e = await rejection(a.authenticate(`Bearer ${now}`));
  assert.match(e.message, /^The token expired at /);
  const missing = await rejection(a.authenticate('  '));
  assert.match(missing.message, /^No Authorization: Bearer token/);
  assert.equal(missing.headers['www-authenticate'], 'Bearer realm="podcount"');
  const malformed = await rejection(a.authenticate('Bearer a b'));
  assert.match(malformed.message, /is not "Bearer <token>"/);
  const anyAudience = await rejection(a.authenticate(`Bearer ${sa('team-a', 'dave', { aud: ['podcount', 'other'] })}`));
  assert.doesNotMatch(anyAudience.message, /not one podcount accepts/, 'a token for podcount and others is not refused for its audience');
});

test('without an API client the caller checks say why, and the warm-up has nothing to check', async () => {
  const none = createCallerAuth({ api: undefined, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes' }), scopeNamespace: undefined });
  const e = await rejection(none.authenticate(`Bearer ${ALICE}`));
  assert.match(e.message, /no cluster to talk to: unknown$/);
  const app = stubApp();
  await none.warmUp(app.log);
  assert.deepEqual(app.lines, []);
});

test('the warm-up copes with an own credential that is no JWT (client certificate, opaque token)', async () => {
  for (const token of [undefined, 'opaque-token']) {
    const api = stubApi(() => apiResponse(201, { status: { allowed: true } }), token ? { token } : {});
    const app = stubApp();
    await createCallerAuth({ api, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes' }), scopeNamespace: undefined }).warmUp(app.log);
    assert.deepEqual(app.lines.map((l) => [l.level, l.msg]), [['info', 'callers are checked: TokenReview for these audiences, then SubjectAccessReview for the list they ask']], String(token));
  }
});

test('the warm-up names every configured audience podcount\'s own API token carries, with the configured list', async () => {
  const own = ['https://kubernetes.default.svc.cluster.local', 'k3s'];
  const api = stubApi(() => apiResponse(201, { status: { allowed: true } }), { token: jwt({ aud: own }) });
  const app = stubApp();
  const configured = ['podcount', 'k3s', 'https://kubernetes.default.svc.cluster.local'];
  await createCallerAuth({ api, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes', PODCOUNT_AUTH_AUDIENCES: configured.join(',') }), scopeNamespace: undefined }).warmUp(app.log);
  const error = app.lines.find((l) => l.level === 'error');
  assert.deepEqual(error?.['audiences'], configured);
  assert.match(error!.msg, /^PODCOUNT_AUTH_AUDIENCES includes https:\/\/kubernetes\.default\.svc\.cluster\.local, k3s, the audience of podcount's own API token/);
});

test('one user seen through two tokens shares its decisions whatever order the review lists its extra keys in', async () => {
  const extra = { 'authentication.kubernetes.io/credential-id': ['JTI=x'], 'authentication.kubernetes.io/pod-name': ['web-1'] };
  const reordered = Object.fromEntries(Object.entries(extra).reverse());
  const one = sa('team-a', 'alice');
  const two = sa('team-a', 'alice', { exp: NOW + 7_200_000 });
  let accessReviews = 0;
  const api = stubApi((_m, path, body: any) => {
    if (path.endsWith('/tokenreviews')) {
      const user = { ...userOf('team-a', 'alice'), extra: body.spec.token === one ? extra : reordered };
      return apiResponse(201, { status: { authenticated: true, user, audiences: ['podcount'] } });
    }
    accessReviews += 1;
    return apiResponse(201, { status: { allowed: true } });
  });
  const a = createCallerAuth({ api, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes' }), scopeNamespace: undefined, now: () => NOW });
  const first = await a.authenticate(`Bearer ${one}`);
  const second = await a.authenticate(`Bearer ${two}`);
  assert.deepEqual(Object.keys(second.extra), Object.keys(reordered));
  await a.authorize(first, { namespace: 'shop' });
  await a.authorize(second, { namespace: 'shop' });
  assert.equal(accessReviews, 1);
});

test('a token whose payload is JSON null, or names a null pod, is a 401 like any token the API server refuses, not a 500', async () => {
  const api = stubApi(() => apiResponse(201, { status: { user: {}, error: 'invalid bearer token' } }));
  const a = createCallerAuth({ api, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes' }), scopeNamespace: undefined, now: () => NOW });
  for (const payload of ['null', '{"kubernetes.io":{"pod":null}}']) {
    const e = await rejection(a.authenticate(`Bearer e30.${Buffer.from(payload).toString('base64url')}.sig`));
    assert.deepEqual([e.status, e.code, e.message], [401, 'caller_unauthenticated', 'The API server does not accept the token (TokenReview).'], payload);
  }
});

test('the warm-up reads no audience from an own JWT that carries none', async () => {
  const api = stubApi(() => apiResponse(201, { status: { allowed: true } }), { token: jwt({ sub: 'system:serviceaccount:podcount:podcount' }) });
  const app = stubApp();
  await createCallerAuth({ api, why: undefined, config: loadConfig({ PODCOUNT_AUTH: 'kubernetes' }), scopeNamespace: undefined }).warmUp(app.log);
  assert.deepEqual(app.lines.map((l) => l.level), ['info']);
});

test('a question of up to 200 characters is its own cache key; a longer one is hashed', async () => {
  const seen = await cacheKeysSeen(async () => {
    const a = auth(server());
    const alice = await a.authenticate(`Bearer ${ALICE}`);
    // ["shop","<selector>",null] is 16 characters around the selector.
    await a.authorize(alice, { namespace: 'shop', labelSelector: 'a'.repeat(184) });
    await a.authorize(alice, { namespace: 'shop', labelSelector: 'a'.repeat(185) });
  });
  assert.equal(seen[1]!.split('\n')[1], JSON.stringify(['shop', 'a'.repeat(184), null]));
  assert.match(seen[2]!.split('\n')[1]!, /^[A-Za-z0-9_-]{43}$/);
});
