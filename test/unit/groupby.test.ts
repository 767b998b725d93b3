// groupBy from the request to the answer: the parameter and its bad inputs, the coalescing key,
// the JSON answer and the text table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createApp } from '../../function/app.ts';
import { loadConfig } from '../../function/config.ts';
import type { CountResult } from '../../function/count.ts';
import { PodcountError } from '../../function/errors.ts';
import { createLogger } from '../../function/log.ts';
import { fromSearchParams, mergeQueries, toCountQuery } from '../../function/request.ts';
import { textAnswer, toAnswer } from '../../function/respond.ts';
import { apiResponse, stubApi } from './stubs.ts';

const cluster = loadConfig({});
const parse = (qs: string) => toCountQuery(fromSearchParams(new URLSearchParams(qs)), cluster, undefined, 'query');
const bad = (e: unknown) => e instanceof PodcountError && e.status === 400 && e.code === 'bad_parameter' && /namespace, phase, node/.test(e.hint);

test('groupBy=namespace|phase|node is accepted with the other narrowing; a plain count has no groupBy key at all', () => {
  for (const by of ['namespace', 'phase', 'node'] as const) assert.equal(parse(`groupBy=${by}`).groupBy, by);
  assert.deepEqual(parse('namespace=shop&labelSelector=app%3Dweb&groupBy=phase'), { namespace: 'shop', labelSelector: 'app=web', fieldSelector: undefined, groupBy: 'phase' });
  assert.ok(!('groupBy' in parse('namespace=shop')));
  assert.equal(toCountQuery({ groupBy: 'node' }, loadConfig({ PODCOUNT_SCOPE: 'namespace' }), 'own', 'event data').groupBy, 'node');
});

test('groupBy: an unknown value, an empty one, one given twice or a non-string in event data is a 400 whose hint lists the values', () => {
  assert.throws(() => parse('groupBy=pod'), bad);
  assert.throws(() => parse('groupBy=Namespace'), bad);
  assert.throws(() => parse('groupBy='), bad);
  assert.throws(() => parse('groupBy=node&groupBy=phase'), bad);
  assert.throws(() => toCountQuery({ groupBy: ['node'] }, cluster, undefined, 'event data'), (e: unknown) => e instanceof PodcountError && e.status === 400 && /groupBy must be a string/.test(e.message) && /"namespace"/.test(e.hint));
  assert.throws(() => toCountQuery({ groupBy: 'nodes' }, cluster, undefined, 'event data'), (e: unknown) => bad(e) && /^event data groupBy/.test((e as Error).message));
  assert.throws(() => mergeQueries({ groupBy: 'node' }, { groupBy: 'phase' }), (e: unknown) => e instanceof PodcountError && e.status === 400);
});

test('property: any groupBy value is one of the three or a 400 naming them', () => {
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('namespace', 'phase', 'node', 'NODE', ' node')), (v) => {
    try {
      assert.ok(['namespace', 'phase', 'node'].includes(parse(`groupBy=${encodeURIComponent(v)}`).groupBy!));
    } catch (err) {
      assert.ok(bad(err), String(err));
    }
  }), { numRuns: 1000 });
});

const grouped: CountResult = { count: 12, resourceVersion: '9', strategy: 'node-table-column', apiRequests: 1, apiBytes: 10, credentialsReloaded: false, groups: { '<none>': 2, 'node-a': 7, 'node-bb': 3 } };

test('the answer carries groupBy and groups (summing to count) only for a breakdown', () => {
  const a = toAnswer({ groupBy: 'node' }, grouped, new Date(0));
  assert.deepEqual({ groupBy: a.groupBy, groups: a.groups, count: a.count, strategy: a.strategy }, { groupBy: 'node', groups: grouped.groups, count: 12, strategy: 'node-table-column' });
  const plain = toAnswer({}, { ...grouped, groups: undefined as never, strategy: 'remainingItemCount' }, new Date(0));
  assert.ok(!('groupBy' in plain) && !('groups' in plain));
});

test('text: the sentence, then an aligned table of the groups, largest first, and the total', () => {
  const text = textAnswer(toAnswer({ labelSelector: 'app=web', groupBy: 'node' }, grouped, new Date(0)));
  assert.equal(text, [
    'There are 12 pods matching labels app=web in the cluster, by node:',
    'NODE     PODS',
    'node-a      7',
    'node-bb     3',
    '<none>      2',
    'TOTAL      12',
    '',
  ].join('\n'));
  assert.equal(textAnswer(toAnswer({ namespace: 'x', groupBy: 'phase' }, { ...grouped, count: 0, groups: {} }, new Date(0))),
    'There are 0 pods in namespace "x", by phase:\nPHASE  PODS\nTOTAL     0\n');
  assert.equal(textAnswer(toAnswer({}, { ...grouped, strategy: 'remainingItemCount' }, new Date(0))), 'There are 12 pods in the cluster\n');
});

test('coalescing: concurrent queries differing only in groupBy never share a read; identical breakdowns do', async () => {
  const paths: string[] = [];
  const api = stubApi((_m, path) => {
    paths.push(path);
    if (path.includes('includeObject=None')) {
      return apiResponse(200, { kind: 'Table', columnDefinitions: [{ name: 'Name' }, { name: 'Node' }], metadata: { resourceVersion: '4' }, rows: [{ cells: ['p', 'n1'] }] });
    }
    // The plain count's limit=1 read, or the namespace breakdown's one page.
    const more = path.includes('limit=1&') || path.endsWith('limit=1') ? { continue: 'c', remainingItemCount: 0 } : {};
    return apiResponse(200, { kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '4', ...more }, items: [{ metadata: { namespace: 'a' } }] });
  });
  const config = loadConfig({ PODCOUNT_PAGE_SIZE: '10' });
  const app = createApp({ config, resolution: { ok: true, target: api.target }, api, scopeNamespace: undefined, accessCheck: undefined }, createLogger('error', { write: () => {} }));
  const [plain, node1, node2, ns] = await Promise.all([app.count({}), app.count({ groupBy: 'node' }), app.count({ groupBy: 'node' }), app.count({ groupBy: 'namespace' })]);
  assert.equal(plain.groups, undefined);
  assert.equal(plain.count, 1);
  assert.deepEqual(node1.groups, { n1: 1 });
  assert.equal(node1, node2, 'identical breakdowns share one read');
  assert.deepEqual(ns.groups, { a: 1 });
  assert.deepEqual(paths.map((p) => p.split('?')[0]), ['/api/v1/pods', '/api/v1/pods', '/api/v1/pods'], 'one read each for the plain count, the node and the namespace breakdown');
  app.close();
});

test('text: groups of the same size are listed by name, whatever order they came in', () => {
  const tied: CountResult = { ...grouped, count: 7, groups: { b: 1, 'node-d': 2, a: 1, c: 1, 'node-c': 2 } };
  assert.deepEqual(textAnswer(toAnswer({ groupBy: 'node' }, tied, new Date(0))).split('\n').slice(2, -2).map((l) => l.split(/ +/)), [
    ['node-c', '2'], ['node-d', '2'], ['a', '1'], ['b', '1'], ['c', '1'],
  ]);
});

test('text: the name column is as wide as its longest entry, TOTAL included', () => {
  const short: CountResult = { ...grouped, count: 4, groups: { n1: 3, n2: 1 } };
  assert.equal(textAnswer(toAnswer({ groupBy: 'node' }, short, new Date(0))), [
    'There are 4 pods in the cluster, by node:',
    'NODE   PODS',
    'n1        3',
    'n2        1',
    'TOTAL     4',
    '',
  ].join('\n'));
});

test('an answer carries groupBy and groups together or not at all, and without both the text is the sentence alone', () => {
  const noGroups = toAnswer({ groupBy: 'node' }, { ...grouped, groups: undefined as never }, new Date(0));
  const noGroupBy = toAnswer({}, grouped, new Date(0));
  for (const a of [noGroups, noGroupBy]) {
    assert.ok(!('groupBy' in a) && !('groups' in a), JSON.stringify(a));
  }
  assert.equal(textAnswer({ ...noGroupBy, groupBy: 'node' }), 'There are 12 pods in the cluster\n', 'groupBy without groups');
  assert.equal(textAnswer({ ...noGroupBy, groups: { a: 12 } }), 'There are 12 pods in the cluster\n', 'groups without groupBy');
});
