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

const rejectsWith = (p: Promise<unknown>, message: RegExp) =>
  assert.rejects(p, (err: unknown) => err instanceof PodcountError && err.status === 400 && err.code === 'bad_event' && message.test(err.message));

test('ce-time must be an RFC 3339 timestamp with a zone, and a real date', async () => {
  for (const time of ['2026-11-23T06:50:00Z', '2026-11-23t06:50:00.123+01:00', '2026-11-23 06:50:00z', '2026-11-23T06:50:00-05:30']) {
    assert.equal((await parseEvent({ ...binary, 'ce-time': time }, Buffer.alloc(0))).id, 'e-1', time);
  }
  for (const time of ['2026-11-23', '2026-11-23T06:50:00', '2026-11-23T06:50Z', '26-11-23T06:50:00Z', 'x2026-11-23T06:50:00Z', '2026-11-23T06:50:00Zx', '2026-11-23T06:50:00.Z', '2026-11-23T06:50:00+0100', '2026-11-23X06:50:00Z', '2026-13-45T06:50:00Z', 'aaaa-bb-ccTdd:ee:ffZ']) {
    await rejectsWith(parseEvent({ ...binary, 'ce-time': time }, Buffer.alloc(0)), new RegExp(`^ce-time ${JSON.stringify(time).replace(/[.+]/g, '\\$&')} is not an RFC 3339 timestamp\\.$`));
  }
  await rejectsWith(parseEvent({ ...binary, 'ce-time': 'y'.repeat(100) }, Buffer.alloc(0)), new RegExp(`^ce-time "${'y'.repeat(64)}" is not`));
  const structured = (time: unknown) => Buffer.from(JSON.stringify({ specversion: '1.0', id: 's', source: '/s', type: 't', time }));
  await rejectsWith(parseEvent({ 'content-type': 'application/cloudevents+json' }, structured('yesterday')), /^Not a valid CloudEvent: .*time "yesterday"/);
  assert.equal((await parseEvent({ 'content-type': 'application/cloudevents+json' }, structured('2026-11-23T06:50:00Z'))).id, 's');
});

test('which check refused an event is in its message', async () => {
  await rejectsWith(parseEvent({ 'content-type': 'application/cloudevents-batch+json' }, Buffer.from('[]')), /^Batched CloudEvents are not supported\.$/);
  await rejectsWith(parseEvent({ ...binary, 'ce-specversion': '0.1' }, Buffer.alloc(0)), /specversion "0\.1" is not supported \(use 1\.0\)/);
  await rejectsWith(parseEvent({ 'content-type': 'application/cloudevents+json' }, Buffer.from('{"specversion":"1.0","id":"x","type":"t"}')), /^Not a valid CloudEvent: .*source/);
  for (const [ct, body] of [['text/plain', '{"namespace":"a"}'], ['application/json', '"a string"'], ['application/json', '3'], ['application/json', '[1]']]) {
    await rejectsWith(parseEvent({ ...binary, 'content-type': ct! }, Buffer.from(body!)), /^The event data must be empty or a JSON object\.$/);
  }
});

test('event data in any JSON media type narrows; blank or null data narrows nothing', async () => {
  for (const ct of ['application/vnd.podcount+json', 'text/json', 'Application/JSON']) {
    assert.deepEqual((await parseEvent({ ...binary, 'content-type': ct }, Buffer.from('{"namespace":"a"}'))).query, { namespace: 'a' }, ct);
  }
  assert.deepEqual((await parseEvent(binary, Buffer.from('  \n'))).query, {}, 'blank data without a content type');
  assert.deepEqual((await parseEvent(binary, Buffer.from('{"namespace":"a"}'))).query, { namespace: 'a' }, 'JSON data without a content type');
  assert.deepEqual((await parseEvent({ ...binary, 'content-type': 'application/json' }, Buffer.from('null'))).query, {});
});

test('CloudEvent detection needs only one of its marks', () => {
  assert.equal(isCloudEvent({ 'ce-id': 'x' }), true);
  assert.equal(isCloudEvent({ 'ce-specversion': '1.0' }), true);
  assert.equal(isCloudEvent({ 'content-type': 'Application/CloudEvents+JSON; charset=utf-8' }), true);
  assert.equal(isCloudEvent({}), false);
});
