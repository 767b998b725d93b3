// Caller authentication and authorization on the real control plane (PODCOUNT_AUTH=kubernetes):
// podcount's own ServiceAccount holds a cluster-wide list grant plus the reviews of
// knative/components/caller-auth; its callers are ServiceAccounts with different grants. Each
// gets exactly what it could list itself, judged against the API server's own answers to the
// caller's own token; every kind of bad token is a 401; an API server that cannot answer gives no
// count; a revoked grant or token stops working within the cache's stated bound (measured).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import { requestWithToken } from '../support/bearer-client.ts';
import { concurrentRequests } from '../support/burst.ts';
import { usePodcount } from '../support/fixture.ts';
import { grantPodList, revokePodList, setUpServiceAccount, type Grant } from '../support/identity.ts';
import { mintToken } from '../support/in-cluster.ts';
import { signServiceAccountToken } from '../support/jwt.ts';
import { applyManifests, parseManifests } from '../support/manifests.ts';
import { apiRequestCount } from '../support/metrics.ts';
import { createNamespace, createServiceAccount } from '../support/namespaces.ts';
import { createPods } from '../support/pods.ts';
import { waitFor } from '../support/poll.ts';
import type { ControlPlane } from '../support/controlplane.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const AUDIENCE = 'podcount';
/** PODCOUNT_AUTH_CACHE_SECONDS' default, the bound a revoked grant is measured against. */
const CACHE_SECONDS = 10;
/** kube-apiserver keeps a successful token authentication 10 s (test/README.md). */
const APISERVER_TOKEN_CACHE_SECONDS = 10;

interface ErrorBody { error: { code: string; message: string; hint: string } }
interface Query { namespace?: string | undefined; labelSelector?: string | undefined; fieldSelector?: string | undefined }
type Mode = 'json' | 'text' | 'event';

/** A caller: a ServiceAccount with a grant, a token for podcount and one for the API server (the oracle's). */
interface Caller { namespace: string; name: string; username: string; token: string; apiToken: string }

/** The reviews podcount needs, exactly as the component ships them (bound to podcount/podcount, the fixture's account). */
function reviewRbac() {
  return parseManifests(readFileSync(join(ROOT, 'knative/components/caller-auth/rbac.yaml'), 'utf8')).filter((o) => o.metadata.name === 'podcount-caller-reviews');
}

async function setUpCaller(cp: ControlPlane, namespace: string, name: string, grant: Grant): Promise<Caller> {
  await createNamespace(cp, namespace);
  await createServiceAccount(cp, namespace, name);
  await grantPodList(cp, namespace, name, grant);
  return {
    namespace, name, username: `system:serviceaccount:${namespace}:${name}`,
    token: await mintToken(cp, namespace, name, { audiences: [AUDIENCE] }),
    apiToken: await mintToken(cp, namespace, name),
  };
}

describe('caller authentication and authorization', () => {
  const pc = usePodcount({
    env: { PODCOUNT_AUTH: 'kubernetes' },
    seed: async (cp) => {
      await applyManifests(cp, reviewRbac());
      for (const ns of ['shop', 'other']) await createNamespace(cp, ns);
      await createPods(cp, 'shop', 5, { labels: { app: 'web' } });
      await createPods(cp, 'shop', 3, { labels: { app: 'db' }, prefix: 'db' });
      await createPods(cp, 'other', 4, { labels: { app: 'web' } });
      await createPods(cp, 'podcount', 2);
    },
  });
  const callers = {} as Record<'wide' | 'shopOnly' | 'none', Caller>;

  before(async () => {
    callers.wide = await setUpCaller(pc.cp, 'callers', 'wide', 'cluster');
    callers.shopOnly = await setUpCaller(pc.cp, 'shop', 'reader', 'namespace');
    callers.none = await setUpCaller(pc.cp, 'callers', 'nobody', 'none');
  });

  /** podcount's answer to `caller` for `q`, asked as a curl user (JSON or text) or as a CloudEvent. */
  async function ask(token: string | undefined, q: Query, mode: Mode = 'json'): Promise<{ status: number; count?: number; body: string; headers: Headers }> {
    const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
    let res: Response;
    if (mode === 'event') {
      const data = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined));
      res = await pc.fn.post('/', JSON.stringify(data), { ...auth, 'ce-specversion': '1.0', 'ce-id': randomUUID(), 'ce-source': '/test', 'ce-type': 'dev.podcount.count.requested', 'content-type': 'application/json' });
    } else {
      const params = new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined));
      res = await pc.fn.get(`/?${params}`, { ...auth, ...(mode === 'text' ? { accept: 'text/plain' } : {}) });
    }
    const body = await res.text();
    let count: number | undefined;
    if (res.status === 200) count = mode === 'text' ? Number(/There (?:are (\d+) pods|is (1) pod)/.exec(body)?.slice(1).find(Boolean)) : (JSON.parse(body) as { count: number }).count;
    return { status: res.status, count, body, headers: res.headers };
  }

  /** The API server's own answer to the caller making that list itself, with its own (API) token: status and items. */
  async function listAsCaller(caller: Caller, q: Query): Promise<{ status: number; count?: number }> {
    const path = q.namespace ? `/api/v1/namespaces/${q.namespace}/pods` : '/api/v1/pods';
    const params = new URLSearchParams();
    if (q.labelSelector) params.set('labelSelector', q.labelSelector);
    if (q.fieldSelector) params.set('fieldSelector', q.fieldSelector);
    const res = await requestWithToken(pc.cp, caller.apiToken, `${path}?${params}`);
    return res.status === 200 ? { status: 200, count: (res.json.items as unknown[]).length } : { status: res.status };
  }

  /** The caller's own can-i: a SelfSubjectAccessReview with its own token. */
  async function canI(caller: Caller, q: Query): Promise<boolean> {
    const res = await requestWithToken(pc.cp, caller.apiToken, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      method: 'POST',
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'list', resource: 'pods', group: '', ...(q.namespace ? { namespace: q.namespace } : {}) } } },
    });
    assert.equal(res.status, 201, res.text);
    return res.json.status.allowed === true;
  }

  /** podcount's answer is the API server's: a count (the same) exactly where the caller may list, a 403 elsewhere. */
  async function assertSameAsApiServer(caller: Caller, q: Query, mode: Mode): Promise<void> {
    const [answer, own, allowed] = await Promise.all([ask(caller.token, q, mode), listAsCaller(caller, q), canI(caller, q)]);
    const what = `${caller.username} ${mode} ${JSON.stringify(q)}: podcount ${answer.status} ${answer.body.slice(0, 300)}`;
    assert.equal(own.status === 200, allowed, `can-i and the real list agree (${what})`);
    if (allowed) {
      assert.equal(answer.status, 200, what);
      assert.equal(answer.count, own.count, what);
    } else {
      assert.equal(answer.status, 403, what);
      assert.equal(answer.count, undefined);
      const error = (JSON.parse(answer.body) as ErrorBody).error;
      assert.equal(error.code, 'caller_forbidden', what);
      assert.match(error.hint, new RegExp(`--serviceaccount=${caller.namespace}:${caller.name}`), what);
    }
  }

  const QUERIES: Query[] = [
    {}, { namespace: 'shop' }, { namespace: 'other' }, { namespace: 'kube-system' },
    { labelSelector: 'app=web' }, { namespace: 'shop', labelSelector: 'app=db' },
    { fieldSelector: 'status.phase=Pending' }, { fieldSelector: 'metadata.namespace=shop' },
    { namespace: 'shop', fieldSelector: 'metadata.namespace=shop', labelSelector: 'app in (web,db)' },
  ];

  test('each caller gets exactly what it could list itself, for every kind of query, as JSON, text and CloudEvent', async () => {
    let counts = 0;
    for (const caller of Object.values(callers)) {
      for (const q of QUERIES) {
        for (const mode of ['json', 'text', 'event'] as const) {
          await assertSameAsApiServer(caller, q, mode);
          counts += 1;
        }
      }
    }
    // The three callers really differ: the wide one counts everything, the shop reader shop only, the third nothing.
    assert.deepEqual(await Promise.all(Object.values(callers).map(async (c) => (await ask(c.token, { namespace: 'shop' })).status)), [200, 200, 403]);
    assert.deepEqual(await Promise.all(Object.values(callers).map(async (c) => (await ask(c.token, {})).status)), [200, 403, 403]);
    assert.equal(counts, 81);
  });

  test('property: over callers × queries × modes, a count exactly where the caller\'s own can-i says yes, and the same count', async () => {
    const caller = fc.constantFrom(...Object.values(callers));
    const query = fc.record({
      namespace: fc.constantFrom(undefined, 'shop', 'other', 'podcount', 'callers', 'no-such-namespace'),
      labelSelector: fc.constantFrom(undefined, 'app=web', 'app!=web', 'app'),
      fieldSelector: fc.constantFrom(undefined, 'status.phase=Pending', 'metadata.namespace=shop', 'metadata.namespace=other', 'spec.nodeName='),
    });
    await fc.assert(fc.asyncProperty(caller, query, fc.constantFrom<Mode>('json', 'text', 'event'), assertSameAsApiServer), { numRuns: 60 });
  });

  test('the caller\'s name is in the invocation log line; no token is in any line', async () => {
    const answer = await ask(callers.shopOnly.token, { namespace: 'shop' });
    assert.equal(answer.status, 200);
    const line = await pc.fn.waitForLog((l) => l.msg === 'invocation' && l['user'] === callers.shopOnly.username && l['status'] === 200);
    assert.equal(line['namespace'], 'shop');
    for (const c of Object.values(callers)) {
      for (const part of [...c.token.split('.'), ...c.apiToken.split('.')]) assert.ok(!pc.fn.stdout.includes(part), 'a token in the log');
    }
  });

  test('no token, a malformed one, an expired one, one for another audience, one of a deleted ServiceAccount, the admin\'s: 401', async () => {
    const cp = pc.cp;
    await createServiceAccount(cp, 'callers', 'short-lived');
    await grantPodList(cp, 'callers', 'short-lived', 'cluster');
    const now = Math.floor(Date.now() / 1000);
    const expired = await signServiceAccountToken(cp, 'callers', 'short-lived', { audiences: [AUDIENCE], issuedAt: now - 700, expiresAt: now - 60 });
    const fresh = await signServiceAccountToken(cp, 'callers', 'short-lived', { audiences: [AUDIENCE], issuedAt: now - 60, expiresAt: now + 600 });
    assert.equal((await ask(fresh, {})).status, 200, 'the same signing, not expired, is accepted: the expiry is what is refused');
    await createServiceAccount(cp, 'callers', 'doomed');
    await grantPodList(cp, 'callers', 'doomed', 'cluster');
    const doomed = await mintToken(cp, 'callers', 'doomed', { audiences: [AUDIENCE] });
    await cp.admin.must('/api/v1/namespaces/callers/serviceaccounts/doomed', { method: 'DELETE' });
    const admin = readFileSync(join(cp.dir, 'tokens.csv'), 'utf8').split(',')[0]!;

    const cases: Array<[string, Record<string, string>, string, RegExp]> = [
      ['no token', {}, 'caller_unauthenticated', /kubectl create token <serviceaccount> -n <namespace> --audience=podcount/],
      ['a Basic header', { authorization: 'Basic YWRtaW46YWRtaW4=' }, 'caller_unauthenticated', /must read "Bearer <token>"/],
      ['a malformed bearer', { authorization: 'Bearer not a token' }, 'caller_unauthenticated', /must read "Bearer <token>"/],
      ['garbage', { authorization: 'Bearer garbage' }, 'caller_unauthenticated', /not a ServiceAccount token of this cluster/],
      ['an expired token', { authorization: `Bearer ${expired}` }, 'caller_unauthenticated', /kubectl create token short-lived -n callers --audience=podcount/],
      ['a token for the API server', { authorization: `Bearer ${callers.wide.apiToken}` }, 'caller_unauthenticated', /--audience=podcount/],
      ['a token for another audience', { authorization: `Bearer ${await mintToken(cp, 'callers', 'wide', { audiences: ['vault'] })}` }, 'caller_unauthenticated', /kubectl create token wide -n callers --audience=podcount/],
      ['the admin\'s static token (system:masters)', { authorization: `Bearer ${admin}` }, 'caller_unauthenticated', /not a ServiceAccount token/],
    ];
    for (const [what, headers, code, hint] of cases) {
      const res = await pc.fn.get('/', headers);
      const body = await res.json() as ErrorBody;
      assert.equal(res.status, 401, `${what}: ${JSON.stringify(body)}`);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="podcount"/, what);
      assert.equal(body.error.code, code, what);
      assert.match(body.error.hint, hint, what);
      const sent = headers['authorization']?.replace(/^\S+ /, '') ?? '';
      if (sent.length > 8) assert.ok(!JSON.stringify(body).includes(sent), `${what}: the token is not echoed`);
    }
    const expiredBody = await (await pc.fn.get('/', { authorization: `Bearer ${expired}` })).json() as ErrorBody;
    assert.match(expiredBody.error.message, /^The token expired at /);
    // The deleted ServiceAccount: refused once the API server's informer has seen the deletion.
    const gone = await waitFor(async () => {
      const res = await pc.fn.get('/', { authorization: `Bearer ${doomed}` });
      return res.status !== 200 && { status: res.status, body: await res.json() as ErrorBody };
    }, { timeoutMs: 5000, intervalMs: 100, what: 'the deleted ServiceAccount\'s token to be refused' });
    assert.equal(gone.status, 401);
    assert.match(gone.body.error.hint, /ServiceAccount callers\/doomed: the ServiceAccount or the object the token is bound to/);
    const line = await pc.fn.waitForLog((l) => l['status'] === 401 && typeof l['errorDetail'] === 'string' && /expired/.test(String(l['errorDetail'])));
    assert.equal(line['error'], 'caller_unauthenticated');
  });

  test('/diagnostics is for callers who may list everything podcount lists, and reports the auth mode', async () => {
    assert.equal((await pc.fn.get('/diagnostics')).status, 401);
    const denied = await pc.fn.get('/diagnostics', { authorization: `Bearer ${callers.shopOnly.token}` });
    assert.equal(denied.status, 403);
    const res = await pc.fn.get('/diagnostics', { authorization: `Bearer ${callers.wide.token}` });
    assert.equal(res.status, 200);
    const report = await res.json() as { ok: boolean; auth: { mode: string; audiences: string[]; caller: string; cache: { ttlSeconds: number; maxEntries: number } } };
    assert.equal(report.ok, true);
    assert.deepEqual([report.auth.mode, report.auth.audiences, report.auth.caller, report.auth.cache.ttlSeconds, report.auth.cache.maxEntries],
      ['kubernetes', [AUDIENCE], callers.wide.username, CACHE_SECONDS, 1024]);
    assert.equal((await pc.fn.get('/healthz')).status, 200, 'readiness needs no token');
  });

  test('/metrics (every scope\'s last count) is for callers who may list everything podcount lists: 401 without a token, 403 for a namespace reader or nobody', async () => {
    const anonymous = await pc.fn.get('/metrics');
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as ErrorBody).error.code, 'caller_unauthenticated');
    for (const caller of [callers.shopOnly, callers.none]) {
      const denied = await pc.fn.get('/metrics', { authorization: `Bearer ${caller.token}` });
      assert.equal(denied.status, 403, caller.username);
      const body = await denied.text();
      assert.equal((JSON.parse(body) as ErrorBody).error.code, 'caller_forbidden');
      assert.doesNotMatch(body, /podcount_/, 'no metric leaks into a refusal');
    }
    const res = await pc.fn.get('/metrics', { authorization: `Bearer ${callers.wide.token}` });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^# HELP podcount_/m);
  });

  test('at start podcount says it checks callers; without the review grant it says the fix and answers 502 forbidden, never a count', async () => {
    await pc.fn.waitForLog((l) => l.msg.startsWith('callers are checked'));
    // Another podcount, allowed to list pods but not to review its callers.
    const sa = await setUpServiceAccount(pc.cp, 'podcount', 'unreviewed', 'cluster');
    try {
      const fn = await pc.startFunction({ ...sa.env, PODCOUNT_AUTH: 'kubernetes' });
      const warned = await fn.waitForLog((l) => l.level === 'warn' && l.msg.includes('tokenreviews'));
      assert.match(warned.msg, /--serviceaccount=podcount:unreviewed/);
      const res = await fn.get('/', { authorization: `Bearer ${callers.wide.token}` });
      const body = await res.json() as ErrorBody;
      assert.equal(res.status, 502);
      assert.equal(body.error.code, 'forbidden');
      assert.match(body.error.hint, /kubectl create clusterrolebinding podcount-caller-reviews --clusterrole=podcount-caller-reviews --serviceaccount=podcount:unreviewed/);
    } finally {
      sa.cleanup();
    }
  });

  test('a revoked grant stops working within the cache bound (10 s after the last review), measured', async () => {
    const caller = await setUpCaller(pc.cp, 'callers', 'revoked', 'cluster');
    assert.equal((await ask(caller.token, {})).status, 200);
    await revokePodList(pc.cp, 'callers', 'revoked', 'cluster');
    const revokedAt = performance.now();
    const statuses: number[] = [];
    await waitFor(async () => {
      const a = await ask(caller.token, {});
      statuses.push(a.status);
      return a.status === 403;
    }, { timeoutMs: (CACHE_SECONDS + 10) * 1000, intervalMs: 250, what: 'the revoked grant to be refused' });
    const seconds = (performance.now() - revokedAt) / 1000;
    console.log(`caller-auth: a revoked grant was refused after ${seconds.toFixed(1)} s (bound: ${CACHE_SECONDS} s from the last review)`);
    assert.ok(seconds <= CACHE_SECONDS + 1.5, `${seconds} s`);
    assert.deepEqual([...new Set(statuses)].sort(), statuses.length > 1 ? [200, 403] : [403], 'only ever a count or a 403');
    await grantPodList(pc.cp, 'callers', 'revoked', 'cluster');
  });

  // podcount re-asks once its answer is 10 s old; kube-apiserver then answers from its own 10 s
  // cache, which another podcount replica may have refreshed meanwhile: 20 s at worst.
  test('a revoked token stops working within both caches (podcount 10 s + kube-apiserver 10 s), measured', async () => {
    await createServiceAccount(pc.cp, 'callers', 'bound');
    await grantPodList(pc.cp, 'callers', 'bound', 'cluster');
    const token = await mintToken(pc.cp, 'callers', 'bound', { audiences: [AUDIENCE], boundSecret: 'bound-token' });
    assert.equal((await ask(token, {})).status, 200);
    await pc.cp.admin.must('/api/v1/namespaces/callers/secrets/bound-token', { method: 'DELETE' });
    const deletedAt = performance.now();
    await waitFor(async () => (await ask(token, {})).status === 401, { timeoutMs: 40_000, intervalMs: 250, what: 'the revoked token to be refused' });
    const seconds = (performance.now() - deletedAt) / 1000;
    console.log(`caller-auth: a token whose Secret was deleted was refused after ${seconds.toFixed(1)} s (bound: ${CACHE_SECONDS} s + kube-apiserver's ${APISERVER_TOKEN_CACHE_SECONDS} s)`);
    assert.ok(seconds <= CACHE_SECONDS + APISERVER_TOKEN_CACHE_SECONDS + 1.5, `${seconds} s`);
  });

  test('cost: 200 concurrent callers with the same identity cost the API server one TokenReview and one SubjectAccessReview', async () => {
    const reviews = async () => ({
      tokenReviews: await apiRequestCount(pc.cp, { verb: 'POST', resource: 'tokenreviews' }),
      accessReviews: await apiRequestCount(pc.cp, { verb: 'POST', resource: 'subjectaccessreviews' }),
      lists: await apiRequestCount(pc.cp, { verb: 'LIST', resource: 'pods' }),
    });
    const spent = (a: Awaited<ReturnType<typeof reviews>>, b: typeof a) => ({ tokenReviews: b.tokenReviews - a.tokenReviews, accessReviews: b.accessReviews - a.accessReviews, lists: b.lists - a.lists });
    // A token podcount has never seen, so nothing is cached: the burst itself pays for its reviews.
    const token = await mintToken(pc.cp, 'callers', 'wide', { audiences: [AUDIENCE] });
    const path = '/?namespace=shop&labelSelector=app%3Dweb';
    const t0 = await reviews();
    const first = await concurrentRequests(pc.fn, path, { headers: { authorization: `Bearer ${token}` } });
    const t1 = await reviews();
    const second = await concurrentRequests(pc.fn, path, { headers: { authorization: `Bearer ${token}` } });
    const t2 = await reviews();
    for (const answers of [first, second]) {
      assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
      assert.deepEqual([...new Set(answers.map((a) => (JSON.parse(a.body) as { count: number }).count))], [5]);
    }
    console.log(`caller-auth: 200 concurrent callers, one token: ${JSON.stringify(spent(t0, t1))} at the API server; the same burst again: ${JSON.stringify(spent(t1, t2))}`);
    assert.deepEqual({ ...spent(t0, t1), lists: undefined }, { tokenReviews: 1, accessReviews: 1, lists: undefined });
    assert.ok(spent(t0, t1).lists <= 2, 'counts still coalesce');
    assert.deepEqual({ ...spent(t1, t2), lists: undefined }, { tokenReviews: 0, accessReviews: 0, lists: undefined }, 'within the cache window a burst costs no review');
    // 200 callers with a token each (200 pods of one ServiceAccount): one TokenReview per token is
    // the floor (only the API server can say who a token belongs to), and each token names its own
    // credential (extra authentication.kubernetes.io/credential-id), so its own SubjectAccessReview.
    const tokens = await Promise.all(Array.from({ length: 200 }, () => mintToken(pc.cp, 'callers', 'wide', { audiences: [AUDIENCE] })));
    const t3 = await reviews();
    const each = await concurrentRequests(pc.fn, path, { headers: (i) => ({ authorization: `Bearer ${tokens[i]}` }) });
    const t4 = await reviews();
    assert.deepEqual([...new Set(each.map((a) => a.status))], [200]);
    console.log(`caller-auth: 200 concurrent callers, a token each: ${JSON.stringify(spent(t3, t4))} at the API server`);
    assert.deepEqual({ ...spent(t3, t4), lists: undefined }, { tokenReviews: 200, accessReviews: 200, lists: undefined });
  });

  test('the API server stopped: 503 with Retry-After and no count, for a new token and a known one; started: counts again', async () => {
    const known = callers.wide.token;
    assert.equal((await ask(known, {})).status, 200);
    const unknown = await mintToken(pc.cp, 'callers', 'wide', { audiences: [AUDIENCE] });
    await pc.cp.stopApiServer();
    try {
      for (const [what, token] of [['a token never reviewed', unknown], ['a token reviewed moments ago', known]] as const) {
        for (const mode of ['json', 'event'] as const) {
          const a = await ask(token, {}, mode);
          assert.equal(a.status, 503, `${what} ${mode}: ${a.body}`);
          assert.match(a.headers.get('retry-after') ?? '', /^\d+$/);
          assert.equal((JSON.parse(a.body) as ErrorBody).error.code, 'cluster_unavailable');
          assert.equal(a.headers.get('ce-id'), null, 'no reply event');
        }
      }
      const fresh = await ask(unknown, {});
      assert.match((JSON.parse(fresh.body) as ErrorBody).error.message, /^podcount could not check the caller: /);
    } finally {
      await pc.cp.startApiServer();
    }
    const back = await waitFor(async () => { const a = await ask(unknown, {}); return a.status === 200 && a; }, { timeoutMs: 30_000, intervalMs: 200, what: 'counts again' });
    assert.equal(back.count, 14);
  });
});
