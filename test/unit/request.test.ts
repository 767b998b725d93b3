import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from '../../function/config.ts';
import { PodcountError } from '../../function/errors.ts';
import { fromSearchParams, mergeQueries, negotiate, toCountQuery } from '../../function/request.ts';

const cluster = loadConfig({});
const namespaced = loadConfig({ PODCOUNT_SCOPE: 'namespace' });
const parse = (qs: string, config = cluster, own?: string) => toCountQuery(fromSearchParams(new URLSearchParams(qs)), config, own, 'query');

function rejects(fn: () => unknown, code: string) {
  assert.throws(fn, (err: unknown) => err instanceof PodcountError && err.status === 400 && err.code === code);
}

test('no parameters counts the whole cluster', () => {
  assert.deepEqual(parse(''), { namespace: undefined, labelSelector: undefined, fieldSelector: undefined });
});

test('namespace and selectors narrow the query', () => {
  assert.deepEqual(parse('namespace=kube-system&labelSelector=app%3Dweb&fieldSelector=status.phase%3DRunning'),
    { namespace: 'kube-system', labelSelector: 'app=web', fieldSelector: 'status.phase=Running' });
});

test('bad namespaces, unknown and repeated parameters are 400s with a code', () => {
  rejects(() => parse('namespace=Bad_NS'), 'bad_namespace');
  rejects(() => parse('namespace='), 'bad_namespace');
  rejects(() => parse(`namespace=${'a'.repeat(64)}`), 'bad_namespace');
  rejects(() => parse('namespace=-a'), 'bad_namespace');
  rejects(() => parse('nmespace=a'), 'unknown_parameter');
  rejects(() => parse('namespace=a&namespace=b'), 'bad_parameter');
  rejects(() => parse('labelSelector=a%0Ab'), 'bad_selector');
  rejects(() => parse(`labelSelector=${'a'.repeat(5000)}`), 'bad_selector');
});

test('a namespace that is invalid only by its case is a 400: namespaces are lowercase DNS-1123 labels', () => {
  // "Default" cannot exist, so no count of it may be answered: the caller made a mistake to be told about.
  for (const ns of ['Default', 'KUBE-SYSTEM', 'kube-System', 'a'.repeat(62) + 'A']) rejects(() => parse(`namespace=${ns}`), 'bad_namespace');
  for (const ns of ['Default', 'kube-System']) {
    assert.throws(() => toCountQuery({ namespace: ns }, cluster, undefined, 'event data'), (err: unknown) => err instanceof PodcountError && err.code === 'bad_namespace' && err.status === 400);
  }
});

test('event data fields must be strings', () => {
  assert.throws(() => toCountQuery({ namespace: 3 }, cluster, undefined, 'event data'), /must be a string/);
  assert.deepEqual(toCountQuery({ namespace: null }, cluster, undefined, 'event data').namespace, undefined);
});

test('URL and event data narrow together; the same field given twice must agree', () => {
  assert.deepEqual(mergeQueries({ namespace: 'a' }, { labelSelector: 'app=web', fieldSelector: null }), { namespace: 'a', labelSelector: 'app=web' });
  assert.deepEqual(mergeQueries({ namespace: 'a' }, { namespace: 'a' }), { namespace: 'a' });
  rejects(() => mergeQueries({ namespace: 'a' }, { namespace: 'b' }), 'bad_parameter');
});

test('namespace scope counts its own namespace and refuses others', () => {
  assert.equal(parse('', namespaced, 'team-a').namespace, 'team-a');
  assert.equal(parse('namespace=team-a', namespaced, 'team-a').namespace, 'team-a');
  rejects(() => parse('namespace=team-b', namespaced, 'team-a'), 'namespace_not_allowed');
});

test('any valid DNS-1123 label is accepted as a namespace', () => {
  const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
  fc.assert(fc.property(label, (ns) => parse(`namespace=${ns}`).namespace === ns));
});

test('any query string either parses or is a 400, never another error', () => {
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (qs) => {
    try {
      parse(qs);
    } catch (err) {
      assert.ok(err instanceof PodcountError && err.status === 400, String(err));
    }
  }), { numRuns: 2000 });
});

test('content negotiation: JSON by default, text when preferred, 406 when neither', () => {
  assert.equal(negotiate(undefined), 'json');
  assert.equal(negotiate('*/*'), 'json');
  assert.equal(negotiate('text/plain'), 'text');
  assert.equal(negotiate('text/plain, application/json;q=0.5'), 'text');
  assert.equal(negotiate('application/json, text/plain;q=0.9'), 'json');
  assert.equal(negotiate('text/html,application/xhtml+xml,*/*;q=0.8'), 'json');
  assert.equal(negotiate('text/*'), 'text');
  assert.equal(negotiate('image/png'), undefined);
});

test('namespace and selector limits are exact, and the messages name the input', () => {
  assert.equal(parse(`namespace=${'a'.repeat(63)}`).namespace, 'a'.repeat(63));
  assert.throws(() => parse('namespace='), { message: 'namespace is empty.' });
  assert.throws(() => parse(`namespace=${'A'.repeat(100)}`), { message: `namespace "${'A'.repeat(80)}" is not a valid namespace name.` });
  assert.equal(parse(`labelSelector=${'a'.repeat(4096)}`).labelSelector, 'a'.repeat(4096));
  assert.throws(() => parse(`fieldSelector=${'a'.repeat(4097)}`), { message: 'fieldSelector is longer than 4096 characters.' });
  assert.throws(() => parse('labelSelector=a%7Fb'), { message: 'labelSelector contains control characters.' });
  assert.deepEqual(parse('labelSelector=%20%20&fieldSelector=%09'), { namespace: undefined, labelSelector: undefined, fieldSelector: undefined }, 'blank selectors select nothing');
  assert.throws(() => parse('pods=1'), { message: 'Unknown query field "pods".' });
  assert.throws(() => toCountQuery({ pods: 1 }, cluster, undefined, 'event data'), { message: 'Unknown event data field "pods".' });
  assert.throws(() => parse('namespace=team-b', namespaced, 'team-a'), (e: unknown) => e instanceof PodcountError && /to count team-b\.$/.test(e.hint));
  assert.throws(() => parse('', namespaced, undefined), (e: unknown) => e instanceof PodcountError && e.code === 'no_cluster_config' && /PODCOUNT_SCOPE=namespace/.test(e.message));
});

test('event data fields given as undefined or null narrow nothing and contradict nothing', () => {
  assert.deepEqual(mergeQueries({ namespace: 'a' }, { namespace: undefined, labelSelector: null }), { namespace: 'a' });
});

test('content negotiation weighs q-values, wildcards and case like HTTP says', () => {
  assert.equal(negotiate('   '), 'json');
  assert.equal(negotiate('TEXT/PLAIN'), 'text');
  assert.equal(negotiate('text/plain ; q=0.5 , application/json ; q=0.4'), 'text');
  assert.equal(negotiate('*/*;q=0.9, application/json;q=0.1'), 'text', 'text/plain falls under */* at 0.9');
  assert.equal(negotiate('application/json;q=0, */*'), 'text', 'an explicit q=0 refuses JSON whatever */* says');
  assert.equal(negotiate('application/json;q=0'), undefined);
  assert.equal(negotiate('application/*;q=0.5, text/plain;q=0.4'), 'json');
  assert.equal(negotiate('text/plain;q=junk, application/json;q=0.1'), 'json', 'an unreadable q counts as 0');
  assert.equal(negotiate('text/plain;level=1;q=0.2, application/json;q=0.1'), 'text');
});

/** The hint of the 400 that `fn` throws: what the caller is told to do. */
function hintOf(fn: () => unknown): { code: string; message: string; hint: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PodcountError && err.status === 400, String(err));
    return { code: err.code, message: err.message, hint: err.hint };
  }
  throw new Error('expected a 400');
}

test('a repeated parameter is a 400 that says how often it came and to give it once (groupBy: with its choices)', () => {
  assert.deepEqual(hintOf(() => parse('namespace=a&namespace=b&namespace=c')),
    { code: 'bad_parameter', message: 'Parameter namespace is given 3 times.', hint: 'Give namespace once.' });
  assert.deepEqual(hintOf(() => parse('groupBy=phase&groupBy=node')),
    { code: 'bad_parameter', message: 'Parameter groupBy is given 2 times.', hint: 'Give groupBy once: one of namespace, phase, node.' });
});

test('a field given differently in the URL and the event data is a 400 that quotes both and says to give it once', () => {
  assert.deepEqual(hintOf(() => mergeQueries({ namespace: 'a' }, { namespace: 'b' })),
    { code: 'bad_parameter', message: 'namespace is "a" in the URL but "b" in the event data.', hint: 'Give namespace in one place.' });
});

test('an unknown field is a 400 whose hint lists the fields podcount understands with an example', () => {
  assert.equal(hintOf(() => parse('pods=1')).hint,
    'podcount understands namespace, labelSelector, fieldSelector, groupBy; e.g. ?namespace=default&labelSelector=app%3Dweb&groupBy=phase.');
});

test('an event data field that is not a string is a 400 bad_parameter whose hint shows that field as a string', () => {
  const wrong = (field: string) => hintOf(() => toCountQuery({ [field]: 7 }, cluster, undefined, 'event data'));
  assert.deepEqual(wrong('namespace'), { code: 'bad_parameter', message: 'event data field namespace must be a string, got number.', hint: 'Send namespace as a string, e.g. "default".' });
  assert.equal(wrong('labelSelector').hint, 'Send labelSelector as a string, e.g. "app=web".');
  assert.equal(wrong('fieldSelector').hint, 'Send fieldSelector as a string, e.g. "status.phase=Running".');
  assert.equal(wrong('groupBy').hint, 'Send groupBy as a string, e.g. "namespace".');
});

test('an empty or malformed namespace is a 400 whose hint says what a namespace may be', () => {
  assert.equal(hintOf(() => parse('namespace=')).hint, 'Omit namespace to count the whole cluster, or name one, e.g. namespace=default.');
  assert.equal(hintOf(() => parse('namespace=Team_A')).hint,
    'A namespace is a DNS-1123 label: at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit.');
});

test('a namespace-scoped podcount asked for another namespace names its own in the 400', () => {
  assert.deepEqual(hintOf(() => parse('namespace=team-b', namespaced, 'team-a')), {
    code: 'namespace_not_allowed',
    message: 'This podcount counts only its own namespace "team-a" (PODCOUNT_SCOPE=namespace).',
    hint: 'Omit namespace, or deploy podcount with cluster scope (a ClusterRoleBinding) to count team-b.',
  });
});

test('a selector too long or with control characters is a 400 whose hint names the selector and the fix', () => {
  assert.equal(hintOf(() => parse(`labelSelector=${'a'.repeat(4097)}`)).hint, 'Shorten labelSelector.');
  assert.equal(hintOf(() => parse('fieldSelector=a%00b')).hint, 'Send fieldSelector as plain text, e.g. app=web,tier!=cache.');
});

test('an explicit text/plain;q=0 refuses text whatever text/* says', () => {
  assert.equal(negotiate('text/plain;q=0, text/*'), undefined);
  assert.equal(negotiate('text/plain;q=0, */*;q=0.5, application/json;q=0.4'), 'json');
});
