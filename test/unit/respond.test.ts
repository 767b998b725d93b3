import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { badRequest, bodyTooLarge, PodcountError } from '../../function/errors.ts';
import { send, sendError, sendJson, sentence, toAnswer, type CountAnswer } from '../../function/respond.ts';

/** What a response was given: status, headers and body, or only an end() once headers were out. */
function recorder(headersSent = false) {
  const r = { status: 0, headers: {} as Record<string, string>, body: undefined as string | undefined, ended: 0 };
  const res = {
    headersSent,
    writeHead(status: number, headers: Record<string, string>) { r.status = status; r.headers = headers; },
    end(body?: string) { r.ended += 1; r.body = body; },
  } as unknown as ServerResponse;
  return { res, r };
}

const answer = (a: Partial<CountAnswer>): CountAnswer => ({ count: 3, scope: 'cluster', namespace: null, labelSelector: null, fieldSelector: null, resourceVersion: '1', countedAt: '', strategy: 'single-page', ...a });

test('the sentence says how many, where, and narrowed by what', () => {
  assert.equal(sentence(answer({ count: 1 })), 'There is 1 pod in the cluster');
  assert.equal(sentence(answer({ count: 0 })), 'There are 0 pods in the cluster');
  assert.equal(sentence(answer({ namespace: 'kube-system', scope: 'namespace' })), 'There are 3 pods in namespace "kube-system"');
  assert.equal(sentence(answer({ labelSelector: 'app=web' })), 'There are 3 pods matching labels app=web in the cluster');
  assert.equal(sentence(answer({ fieldSelector: 'status.phase=Running' })), 'There are 3 pods matching fields status.phase=Running in the cluster');
  assert.equal(sentence(answer({ labelSelector: 'a=b', fieldSelector: 'c=d', namespace: 'x' })), 'There are 3 pods matching labels a=b and fields c=d in namespace "x"');
});

test('answers are never cached, carry their exact length, and JSON ends with a newline', () => {
  const { res, r } = recorder();
  sendJson(res, 200, { n: 'é' });
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"n":"é"}\n');
  assert.deepEqual(r.headers, { 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8', 'content-length': '11' });
});

test('once headers are out, send only ends the response (no second status line)', () => {
  const { res, r } = recorder(true);
  send(res, 500, {}, 'late');
  assert.deepEqual([r.status, r.ended, r.body], [0, 1, undefined]);
});

test('errors: Retry-After when the error has one, connection: close after a 413, the error\'s own headers', () => {
  const unavailable = new PodcountError(503, 'cluster_unavailable', 'm', 'h', 7);
  let { res, r } = recorder();
  sendError(res, unavailable);
  assert.equal(r.headers['retry-after'], '7');
  assert.equal(r.headers['connection'], undefined);
  assert.deepEqual(JSON.parse(r.body!), unavailable.toBody());
  ({ res, r } = recorder());
  sendError(res, badRequest('bad_selector', 'm', 'h'));
  assert.deepEqual([r.status, r.headers['retry-after'], r.headers['connection']], [400, undefined, undefined]);
  ({ res, r } = recorder());
  sendError(res, bodyTooLarge(10), { 'x-extra': '1' });
  assert.deepEqual([r.status, r.headers['connection'], r.headers['x-extra']], [413, 'close', '1']);
  const withAllow = new PodcountError(405, 'method_not_allowed', 'm', 'h');
  withAllow.headers['allow'] = 'GET';
  ({ res, r } = recorder());
  sendError(res, withAllow);
  assert.equal(r.headers['allow'], 'GET');
});

test('the answer says its scope: the cluster without a namespace, else the namespace', () => {
  const r = { count: 1, resourceVersion: '9', strategy: 'single-page' as const, apiRequests: 1, apiBytes: 1, credentialsReloaded: false };
  const at = new Date('2026-11-23T07:00:00Z');
  assert.deepEqual(toAnswer({}, r, at), { count: 1, scope: 'cluster', namespace: null, labelSelector: null, fieldSelector: null, resourceVersion: '9', countedAt: '2026-11-23T07:00:00.000Z', strategy: 'single-page' });
  assert.deepEqual([toAnswer({ namespace: 'a', labelSelector: 'x=y', fieldSelector: 'f=g' }, r, at)].map((a) => [a.scope, a.namespace, a.labelSelector, a.fieldSelector]), [['namespace', 'a', 'x=y', 'f=g']]);
});
