import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCloudEvent, parseEvent, replyMessage, replySource } from '../../function/event.ts';
import { PodcountError } from '../../function/errors.ts';

const binary = { 'ce-specversion': '1.0', 'ce-id': 'e-1', 'ce-source': '/apis/v1/namespaces/podcount/pingsources/tick', 'ce-type': 'dev.knative.sources.ping' };

test('binary events without data (a PingSource) parse to an empty query', async () => {
  const e = await parseEvent(binary, Buffer.alloc(0));
  assert.deepEqual(e, { id: 'e-1', source: binary['ce-source'], type: binary['ce-type'], query: {} });
});

test('JSON data narrows, whatever the charset spelling', async () => {
  for (const ct of ['application/json', 'application/json; charset=UTF-8', 'application/json;charset=utf-8']) {
    const e = await parseEvent({ ...binary, 'content-type': ct }, Buffer.from('{"namespace":"default"}'));
    assert.deepEqual(e.query, { namespace: 'default' }, ct);
  }
});

test('structured events parse, including an upper-case charset and data_base64', async () => {
  const body = { specversion: '1.0', id: 's-1', source: '/cronjob', type: 'dev.podcount.count.requested', data: { labelSelector: 'app=web' } };
  const e = await parseEvent({ 'content-type': 'application/cloudevents+json; charset=UTF-8' }, Buffer.from(JSON.stringify(body)));
  assert.deepEqual(e.query, { labelSelector: 'app=web' });
  const b64 = { ...body, data: undefined, data_base64: Buffer.from('{"namespace":"x"}').toString('base64') };
  assert.deepEqual((await parseEvent({ 'content-type': 'application/cloudevents+json' }, Buffer.from(JSON.stringify(b64)))).query, { namespace: 'x' });
});

test('malformed events are 400 bad_event', async () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ ...binary, 'ce-source': undefined as unknown as string }, ''],
    [{ ...binary, 'ce-time': 'yesterday' }, ''],
    [{ ...binary, 'content-type': 'application/json' }, '{not json'],
    [{ ...binary, 'content-type': 'application/json' }, '[1,2]'],
    [{ ...binary, 'content-type': 'text/plain' }, 'hello'],
    [{ 'content-type': 'application/cloudevents+json' }, '{"id":"x"}'],
    [{ 'content-type': 'application/cloudevents-batch+json' }, '[]'],
    [{ ...binary, 'ce-specversion': '0.1' }, ''],
  ];
  for (const [headers, body] of cases) {
    const clean = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined));
    await assert.rejects(parseEvent(clean, Buffer.from(body)), (err: unknown) => err instanceof PodcountError && err.status === 400 && err.code === 'bad_event', JSON.stringify([headers, body]));
  }
});

test('CloudEvent detection: ce-* headers or a cloudevents content type', () => {
  assert.equal(isCloudEvent(binary), true);
  assert.equal(isCloudEvent({ 'content-type': 'application/cloudevents+json' }), true);
  assert.equal(isCloudEvent({ 'content-type': 'application/json' }), false);
});

test('the reply is a binary-mode CloudEvent with JSON data', async () => {
  const m = await replyMessage({ type: 'dev.podcount.pods.counted', source: '/apis/serving.knative.dev/v1/namespaces/podcount/services/podcount', subject: 'cluster', data: { count: 3 } });
  assert.equal(m.headers['ce-type'], 'dev.podcount.pods.counted');
  assert.equal(m.headers['ce-specversion'], '1.0');
  assert.equal(m.headers['ce-subject'], 'cluster');
  assert.match(m.headers['content-type'] ?? '', /^application\/json/);
  assert.ok(m.headers['ce-id']);
  assert.deepEqual(JSON.parse(m.body), { count: 3 });
});

test('the reply\'s source is the Knative Service that answered', () => {
  assert.equal(replySource('podcount', 'podcount'), '/apis/serving.knative.dev/v1/namespaces/podcount/services/podcount');
  assert.equal(replySource(undefined, 'pc'), '/apis/serving.knative.dev/v1/namespaces/default/services/pc');
});
