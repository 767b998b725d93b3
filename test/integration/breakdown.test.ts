// Breakdowns (groupBy) from the spawned function equal the API server's truth for every method,
// narrowed every way, in one page and in many; their total is the plain count of the snapshot
// they name, also while pods come, go and change phase; over HTTP, as text and as a CloudEvent;
// with caller checks on, a caller gets a breakdown only of what it may list itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import { usePodcount } from '../support/fixture.ts';
import type { FunctionProcess } from '../support/function-process.ts';
import { grantPodList } from '../support/identity.ts';
import { mintToken } from '../support/in-cluster.ts';
import { applyManifests, parseManifests } from '../support/manifests.ts';
import { createServiceAccount } from '../support/namespaces.ts';
import { apiTruthCount, apiTruthGroups, createPods, deletePods, POD_PHASES, setPodPhases } from '../support/pods.ts';

const BY = ['namespace', 'phase', 'node'] as const;
const METHOD = { namespace: 'namespace-metadata-pages', phase: 'phase-field-selectors', node: 'node-table-column' } as const;
const sum = (groups: Record<string, number>) => Object.values(groups).reduce((a, b) => a + b, 0);

describe('breakdowns against a real API server', () => {
  const pc = usePodcount({
    seed: async (cp) => {
      // alpha: 12 pods on n1, n2 or no node, every phase; beta: 5 on n1, some Running.
      await createPods(cp, 'alpha', 12, { labels: { app: 'web' }, nodeName: (i) => (i % 3 === 2 ? undefined : `n${(i % 3) + 1}`) });
      await setPodPhases(cp, 'alpha', 12, (i) => POD_PHASES[i % 5]);
      await createPods(cp, 'beta', 5, { labels: { app: 'db' }, nodeName: () => 'n1' });
      await setPodPhases(cp, 'beta', 5, (i) => (i < 2 ? 'Running' : undefined));
    },
  });
  let paged: FunctionProcess;

  before(async () => {
    // Every breakdown takes several pages.
    paged = await pc.startFunction({ PODCOUNT_PAGE_SIZE: '2' });
  });

  const ask = async (f: FunctionProcess, qs: string) => {
    const res = await f.get(`/?${qs}`);
    const body = await res.json() as { count: number; groups: Record<string, number>; groupBy: string; strategy: string; resourceVersion: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  };

  test('every method, narrowed every way, in one page and in many: the groups are the API truth, the total the plain count', async () => {
    const queries: Array<{ namespace?: string; labelSelector?: string; fieldSelector?: string }> = [
      {},
      { namespace: 'alpha' },
      { labelSelector: 'app=web' },
      { fieldSelector: 'spec.nodeName=n1' },
      { fieldSelector: 'status.phase=Running' },
      { fieldSelector: 'metadata.namespace=beta' },
      { namespace: 'alpha', labelSelector: 'app=web', fieldSelector: 'status.phase!=Pending' },
      { namespace: 'missing' },
    ];
    for (const q of queries) {
      const plain = await apiTruthCount(pc.cp, q);
      for (const by of BY) {
        const truth = await apiTruthGroups(pc.cp, q, by);
        for (const f of [pc.fn, paged]) {
          const what = `${JSON.stringify(q)} by ${by}${f === paged ? ', page size 2' : ''}`;
          const body = await ask(f, `${new URLSearchParams({ ...(q as Record<string, string>), groupBy: by })}`);
          assert.deepEqual(body.groups, truth, what);
          assert.equal(body.count, plain, what);
          assert.equal(sum(body.groups), body.count, what);
          assert.equal(body.groupBy, by);
          // One namespace asked: the namespace breakdown is its plain count.
          if (!(by === 'namespace' && (q.namespace || q.fieldSelector?.startsWith('metadata.namespace')))) assert.equal(body.strategy, METHOD[by], what);
        }
      }
    }
  });

  test('unscheduled pods are the node group "<none>"; only groups with pods appear', async () => {
    const body = await ask(pc.fn, 'groupBy=node');
    assert.deepEqual(body.groups, { '<none>': 4, n1: 9, n2: 4 });
    const phases = await ask(pc.fn, 'namespace=beta&groupBy=phase');
    assert.deepEqual(phases.groups, { Pending: 3, Running: 2 });
  });

  test('the log line names the breakdown, its method and its pages', async () => {
    await ask(paged, 'groupBy=namespace&labelSelector=app%3Ddb');
    const line = await paged.waitForLog((l) => l.msg === 'invocation' && l['groupBy'] === 'namespace' && l['labelSelector'] === 'app=db');
    assert.equal(line['strategy'], 'namespace-metadata-pages');
    assert.equal(line['count'], 5);
    assert.ok(Number(line['apiRequests']) >= 3, `page size 2: several pages, got ${line['apiRequests']}`);
  });

  test('while pods come, go and change phase, each total is the exact count of the snapshot it names, and the groups that snapshot\'s truth', async () => {
    let stop = false;
    let round = 0;
    const churn = (async () => {
      while (!stop) {
        const prefix = `churn-${round++}`;
        await createPods(pc.cp, 'gamma', 4, { prefix, nodeName: (i) => (i % 2 ? 'n3' : undefined) });
        await setPodPhases(pc.cp, 'gamma', 4, (i) => POD_PHASES[i % 4], { prefix });
        if (round > 1) await deletePods(pc.cp, 'gamma', [0, 1, 2].map((i) => `churn-${round - 2}-${i}`));
      }
    })();
    try {
      for (let i = 0; i < 4; i++) {
        for (const by of BY) {
          const body = await ask(paged, `groupBy=${by}`);
          const at = await pc.cp.admin.must(`/api/v1/pods?limit=1&resourceVersion=${body.resourceVersion}&resourceVersionMatch=Exact`);
          assert.equal(body.count, at.json.items.length + (at.json.metadata.remainingItemCount ?? 0), `${by}: the plain count at ${body.resourceVersion}`);
          assert.deepEqual(body.groups, await apiTruthGroups(pc.cp, {}, by, body.resourceVersion), `${by} at ${body.resourceVersion}`);
        }
      }
    } finally {
      stop = true;
      await churn;
    }
    assert.ok(round >= 2, 'pods changed while counting');
  });

  test('as text: the sentence and an aligned table, largest group first, and the total', async () => {
    const res = await pc.fn.get('/?namespace=alpha&groupBy=node', { accept: 'text/plain' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), [
      'There are 12 pods in namespace "alpha", by node:',
      'NODE    PODS',
      '<none>     4',
      'n1         4',
      'n2         4',
      'TOTAL     12',
      '',
    ].join('\n'));
  });

  test('a CloudEvent asks for a breakdown in its data; the reply\'s data carries the groups', async () => {
    const res = await pc.fn.post('/', JSON.stringify({ namespace: 'beta', groupBy: 'phase' }), {
      'ce-specversion': '1.0', 'ce-id': 'gb-1', 'ce-source': '/test', 'ce-type': 'dev.podcount.count.requested', 'content-type': 'application/json',
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('ce-type'), 'dev.podcount.pods.counted');
    const data = await res.json() as { count: number; groupBy: string; groups: Record<string, number>; inResponseTo: { id: string } };
    assert.deepEqual({ count: data.count, groupBy: data.groupBy, groups: data.groups, id: data.inResponseTo.id }, { count: 5, groupBy: 'phase', groups: { Pending: 3, Running: 2 }, id: 'gb-1' });
  });

  test('bad groupBy: an unknown value, given twice, or not a string in event data is a 400 whose hint lists the values', async () => {
    const ce = { 'ce-specversion': '1.0', 'ce-id': 'gb-2', 'ce-source': '/test', 'ce-type': 'dev.podcount.count.requested', 'content-type': 'application/json' };
    for (const res of [
      await pc.fn.get('/?groupBy=pods'),
      await pc.fn.get('/?groupBy=node&groupBy=phase'),
      await pc.fn.post('/', JSON.stringify({ groupBy: 3 }), ce),
      await pc.fn.post('/?groupBy=node', JSON.stringify({ groupBy: 'phase' }), ce),
    ]) {
      const body = await res.json() as { error: { code: string; message: string; hint: string } };
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.error.code, 'bad_parameter');
      assert.match(body.error.message, /groupBy/);
      assert.ok(body.error.hint.length > 0);
    }
    const unknown = await (await pc.fn.get('/?groupBy=pods')).json() as { error: { hint: string } };
    assert.match(unknown.error.hint, /namespace, phase, node/);
  });
});

describe('breakdowns with caller checks on (PODCOUNT_AUTH=kubernetes)', () => {
  const pc = usePodcount({
    env: { PODCOUNT_AUTH: 'kubernetes' },
    seed: async (cp) => {
      // The reviews podcount needs, as knative/components/caller-auth ships them.
      const rbac = readFileSync(join(resolve(import.meta.dirname, '..', '..'), 'knative/components/caller-auth/rbac.yaml'), 'utf8');
      await applyManifests(cp, parseManifests(rbac).filter((o) => o.metadata.name === 'podcount-caller-reviews'));
      await createPods(cp, 'shop', 3, { nodeName: () => 'n1' });
      await createPods(cp, 'other', 2, { nodeName: () => 'n2' });
    },
  });
  let shopReader: string;

  before(async () => {
    await createServiceAccount(pc.cp, 'shop', 'reader');
    await grantPodList(pc.cp, 'shop', 'reader', 'namespace');
    shopReader = await mintToken(pc.cp, 'shop', 'reader', { audiences: ['podcount'] });
  });

  test('a caller who may list pods only in shop gets shop\'s breakdowns, and 403 for the cluster\'s', async () => {
    const auth = { authorization: `Bearer ${shopReader}` };
    for (const by of BY) {
      const wide = await pc.fn.get(`/?groupBy=${by}`, auth);
      assert.equal(wide.status, 403, `groupBy=${by} cluster-wide`);
      assert.equal((await wide.json() as { error: { code: string } }).error.code, 'caller_forbidden');
    }
    const nodes = await pc.fn.get('/?namespace=shop&groupBy=node', auth);
    assert.equal(nodes.status, 200);
    assert.deepEqual((await nodes.json() as { groups: Record<string, number> }).groups, { n1: 3 }, 'nothing of the nodes other namespaces use');
    const namespaces = await pc.fn.get('/?namespace=shop&groupBy=namespace', auth);
    assert.deepEqual((await namespaces.json() as { groups: Record<string, number> }).groups, { shop: 3 });
  });
});
