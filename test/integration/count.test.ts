// Counts from the spawned function equal the API server's truth, through the in-cluster path,
// for every kind of narrowing, in both strategies, as pods come and go.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { waitForAuditEvents } from '../support/audit.ts';
import { usePodcount } from '../support/fixture.ts';
import { FunctionProcess } from '../support/function-process.ts';
import { createNamespace } from '../support/namespaces.ts';
import { apiTruthCount, createPods, deletePods } from '../support/pods.ts';

describe('counting pods against a real API server', () => {
  const pc = usePodcount({
    auditPolicy: true,
    seed: async (cp) => {
      for (const ns of ['alpha', 'beta']) await createNamespace(cp, ns);
      await createPods(cp, 'alpha', 7, { labels: { app: 'web' }, prefix: 'web' });
      await createPods(pc.cp, 'alpha', 3, { labels: { app: 'db' }, prefix: 'db' });
      await createPods(pc.cp, 'beta', 4, { labels: { app: 'web' }, prefix: 'web' });
    },
  });
  let paged: FunctionProcess;

  before(async () => {
    // A page size small enough that every filtered count takes several pages.
    paged = await pc.startFunction({ PODCOUNT_PAGE_SIZE: '2' });
  });

  const count = async (f: FunctionProcess, qs = '') => {
    const res = await f.get(`/${qs}`);
    const body = await res.json() as Record<string, unknown>;
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  };

  test('the whole cluster, in one O(1) request', async () => {
    const body = await count(pc.fn);
    assert.equal(body['count'], await apiTruthCount(pc.cp, {}));
    assert.equal(body['count'], 14);
    assert.equal(body['scope'], 'cluster');
    assert.equal(body['namespace'], null);
    assert.equal(body['strategy'], 'remainingItemCount');
    assert.match(String(body['resourceVersion']), /^\d+$/);
    assert.ok(Date.now() - Date.parse(String(body['countedAt'])) < 60_000);
    const line = await pc.fn.waitForLog((l) => l.msg === 'invocation' && l['count'] === 14);
    assert.equal(line['apiRequests'], 1, 'limit=1 + remainingItemCount: a single API request');
  });

  test('as a sentence for Accept: text/plain', async () => {
    const res = await pc.fn.get('/', { accept: 'text/plain' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await res.text(), 'There are 14 pods in the cluster\n');
    const ns = await pc.fn.get('/?namespace=beta', { accept: 'text/plain' });
    assert.equal(await ns.text(), 'There are 4 pods in namespace "beta"\n');
  });

  test('narrowed by namespace, label and field selectors, in both strategies', async () => {
    const queries = [
      { namespace: 'alpha' },
      { namespace: 'beta' },
      { namespace: 'empty-or-missing' },
      { labelSelector: 'app=web' },
      { labelSelector: 'app in (web,db)' },
      { labelSelector: 'app!=web' },
      { namespace: 'alpha', labelSelector: 'app=db' },
      { fieldSelector: 'status.phase=Pending' },
      { fieldSelector: 'status.phase=Running' },
      { fieldSelector: 'metadata.namespace=beta' },
      { namespace: 'alpha', labelSelector: 'app=web', fieldSelector: 'metadata.name!=web-0' },
    ];
    for (const q of queries) {
      const truth = await apiTruthCount(pc.cp, q);
      const qs = `?${new URLSearchParams(q as Record<string, string>)}`;
      for (const f of [pc.fn, paged]) {
        const body = await count(f, qs);
        assert.equal(body['count'], truth, `${qs} via ${f === pc.fn ? 'default' : 'page size 2'}`);
        assert.equal(body['labelSelector'], q.labelSelector ?? null);
        assert.equal(body['fieldSelector'], q.fieldSelector ?? null);
      }
    }
  });

  test('a filtered count pages with the configured size (at least 3 pages here)', async () => {
    const body = await count(paged, '?labelSelector=app%3Dweb');
    assert.equal(body['count'], 11);
    assert.equal(body['strategy'], 'paginated');
    const line = await paged.waitForLog((l) => l.msg === 'invocation' && l['labelSelector'] === 'app=web' && l['count'] === 11);
    assert.ok(Number(line['apiRequests']) >= 3, `expected >= 3 pages, got ${line['apiRequests']}`);
    // Unfiltered stays O(1) whatever the page size.
    assert.equal((await count(paged))['strategy'], 'remainingItemCount');
  });

  test('counts follow pods being created and deleted', async () => {
    await createNamespace(pc.cp, 'gamma');
    const created = await createPods(pc.cp, 'gamma', 5, { labels: { app: 'batch' }, prefix: 'job' });
    assert.equal(created.created, 5);
    assert.equal((await count(pc.fn))['count'], 19);
    assert.equal((await count(pc.fn, '?namespace=gamma'))['count'], 5);
    await deletePods(pc.cp, 'gamma', ['job-0', 'job-1', 'job-2']);
    assert.equal((await count(pc.fn))['count'], await apiTruthCount(pc.cp, {}));
    assert.equal((await count(pc.fn, '?namespace=gamma'))['count'], 2);
    assert.equal((await count(paged, '?labelSelector=app%3Dbatch'))['count'], 2);
  });

  test('selectors carrying &, #, +, = and spaces reach the API server as one parameter each', async () => {
    // What each byte must survive: & and # would split or cut a hand-built query string, + would
    // become a space, = and spaces are in every real selector. The field value escapes its = (\=).
    const labelSelector = 'app in (web, db),app!=x';
    const fieldSelector = String.raw`metadata.name!=a&b\=c+d#e f`;
    const truth = await apiTruthCount(pc.cp, { labelSelector, fieldSelector });
    assert.equal(truth, await apiTruthCount(pc.cp, { labelSelector }), 'the name term excludes no pod');
    assert.ok(truth > 0);
    for (const f of [pc.fn, paged]) {
      const body = await count(f, `?${new URLSearchParams({ labelSelector, fieldSelector })}`);
      assert.equal(body['count'], truth);
    }
    // The server's own record of each list podcount made for it (page one and continued pages).
    const ours = (uri: string) => new URL(uri, 'https://x').searchParams.get('fieldSelector')?.startsWith('metadata.name!=a') === true;
    const lists = await waitForAuditEvents(pc.cp, (e) => e.user.username === 'system:serviceaccount:podcount:podcount' && e.verb === 'list'
      && e.stage === 'ResponseComplete' && ours(e.requestURI), { atLeast: 2 });
    for (const e of lists) {
      const params = new URL(e.requestURI, 'https://x').searchParams;
      assert.deepEqual(params.getAll('labelSelector'), [labelSelector], e.requestURI);
      assert.deepEqual(params.getAll('fieldSelector'), [fieldSelector], e.requestURI);
      assert.equal(e.responseStatus?.code, 200);
    }
    assert.ok(lists.some((e) => e.requestURI.includes('continue=')), 'the paged instance sent the selectors again with its continue token');
  });

  test('nothing of the token reaches the output of a successful start, counts, and a drain', async () => {
    const f = await pc.startFunction({ PODCOUNT_LOG_LEVEL: 'debug' });
    await f.waitForLog((l) => /^ready: may list pods/.test(l.msg));
    assert.equal((await count(f))['count'], await apiTruthCount(pc.cp, {}));
    await count(f, '?labelSelector=app%3Dweb');
    assert.equal((await f.get('/', { accept: 'text/plain' })).status, 200);
    assert.equal((await f.get('/diagnostics')).status, 200);
    assert.equal((await f.stop()).code, 0);
    const output = f.stdout + f.stderr;
    assert.ok(f.logs.some((l) => l.msg === 'invocation') && f.logs.some((l) => l.msg === 'drained; exiting'), 'the output checked is the whole run');
    const [header, payload, signature] = pc.sa.token.split('.');
    for (const [what, part] of [['token', pc.sa.token], ['its payload', payload], ['its signature', signature], ['its header', header]] as const) {
      assert.ok(part && part.length > 16, what);
      assert.equal(output.includes(part), false, `${what} is in podcount's output`);
    }
  });

  test('a selector the API server rejects is the caller\'s 400, with the server\'s words', async () => {
    const res = await pc.fn.get(`/?labelSelector=${encodeURIComponent('app in (web')}`);
    const body = await res.json() as { error: { code: string; message: string } };
    assert.equal(res.status, 400);
    assert.equal(body.error.code, 'bad_selector');
    assert.match(body.error.message, /rejected the query/);
    const field = await pc.fn.get(`/?fieldSelector=${encodeURIComponent('spec.unknownField=x')}`);
    assert.equal(field.status, 400);
  });

  test('the functions-framework CLI serves the same registered function', async () => {
    const ff = await FunctionProcess.start({ env: pc.sa.env, entry: 'functions-framework' });
    try {
      const res = await ff.get('/?namespace=alpha');
      assert.equal(res.status, 200);
      assert.equal((await res.json() as { count: number }).count, await apiTruthCount(pc.cp, { namespace: 'alpha' }));
      // A CloudEvent whose body the framework has already parsed (it keeps the raw bytes for us).
      const event = await ff.post('/', JSON.stringify({ namespace: 'beta' }), {
        'ce-specversion': '1.0', 'ce-id': 'ff-1', 'ce-source': '/test', 'ce-type': 'dev.podcount.count.requested', 'content-type': 'application/json',
      });
      assert.equal(event.status, 200);
      assert.equal(event.headers.get('ce-type'), 'dev.podcount.pods.counted');
      assert.equal((await event.json() as { count: number }).count, await apiTruthCount(pc.cp, { namespace: 'beta' }));
    } finally {
      await ff.stop();
    }
  });
});
