import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTimestamp } from '../../function/event-attributes.ts';
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

/** Asserts parseEvent refuses with `code` and a message naming every one of `names`. */
async function refuses(headers: Record<string, string | undefined>, body: string, code: string, ...names: string[]): Promise<void> {
  const clean = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>;
  await assert.rejects(parseEvent(clean, Buffer.from(body)), (err: unknown) => {
    assert.ok(err instanceof PodcountError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.code, code, err.message);
    for (const n of names) assert.ok(err.message.includes(n), `${err.message} names ${n}`);
    assert.ok(err.hint.length > 0);
    return true;
  }, JSON.stringify([headers, body]));
}

const structured = { 'content-type': 'application/cloudevents+json' };
const event = (extra: Record<string, unknown>) => JSON.stringify({ specversion: '1.0', id: 's-1', source: '/t', type: 'dev.podcount.count.requested', ...extra });

test('invalid events are 400 bad_event naming the attribute (and the header, in binary mode)', async () => {
  await refuses({ ...binary, 'ce-source': undefined }, '', 'bad_event', 'source', 'ce-source', 'is missing');
  await refuses({ ...binary, 'ce-id': '' }, '', 'bad_event', 'id', 'ce-id', 'is empty');
  await refuses({ ...binary, 'ce-specversion': undefined }, '', 'bad_event', 'specversion', 'ce-specversion');
  await refuses({ ...binary, 'ce-time': 'yesterday' }, '', 'bad_event', 'time', 'ce-time', 'RFC 3339');
  await refuses({ ...binary, 'ce-specversion': '0.1' }, '', 'bad_event', 'specversion', '"0.1"');
  await refuses({ ...binary, 'content-type': 'xyz' }, '', 'bad_event', 'datacontenttype', 'Content-Type');
  await refuses({ ...binary, 'ce-dataschema': 'not a uri' }, '', 'bad_event', 'dataschema');
  await refuses({ ...binary, 'ce-my_ext': 'x' }, '', 'bad_event', '"my_ext"', 'ce-my_ext');
  await refuses({ ...binary, 'ce-data_base64': 'eA==' }, '', 'bad_event', 'data_base64');
  await refuses(structured, '{"id":"x"}', 'bad_event', 'specversion');
  await refuses(structured, '{not json', 'bad_event', 'structured event', 'not JSON');
  await refuses(structured, '[]', 'bad_event', 'an array');
  await refuses(structured, event({ id: 7 }), 'bad_event', 'id', 'a number');
  await refuses(structured, event({ subject: '' }), 'bad_event', 'subject');
  await refuses(structured, event({ time: 3 }), 'bad_event', 'time', 'a number');
  await refuses(structured, event({ ext: 1.5 }), 'bad_event', '"ext"', '1.5');
  await refuses(structured, event({ ext: 2 ** 31 }), 'bad_event', '"ext"');
  await refuses(structured, event({ ext: { a: 1 } }), 'bad_event', '"ext"');
  await refuses(structured, event({ data_base64: 'not base64!' }), 'bad_event', 'data_base64');
  await refuses(structured, event({ data: {}, data_base64: 'e30=' }), 'bad_event', 'data', 'data_base64');
  await refuses({ 'content-type': 'application/cloudevents-batch+json' }, '[]', 'bad_event', 'Batched');
});

test('RFC 3339 timestamps: seconds and an offset required, every field in range', () => {
  for (const ok of ['2018-04-05T17:31:00Z', '2018-04-05t17:31:00.123456789z', '2018-04-05T18:31:00+01:00', '2016-12-31T23:59:60Z', '2024-02-29T00:00:00-23:59', '2018-01-01T00:00:00Z', '2018-12-31T23:59:59.5+23:00']) assert.equal(isTimestamp(ok), true, ok);
  for (const bad of ['2018-04-05T18:31Z', '2018-04-05T18:31:00', '2018-04-05T18:31:00+25:00', '2018-04-05T18:31:00+05', '2018-13-01T00:00:00Z', '2018-00-10T00:00:00Z', '2018-04-00T00:00:00Z', '2023-02-29T00:00:00Z', '2018-04-31T00:00:00Z', '2018-04-05T24:00:00Z', '2018-04-05T18:60:00Z', '2018-04-05T18:31:61Z', '2018-04-05T18:31:00+01:60', 'lunchtime']) {
    assert.equal(isTimestamp(bad), false, bad);
  }
});

test('valid events: optional attributes set to null, extensions of every JSON type, a relative source', async () => {
  const e = await parseEvent(structured, Buffer.from(event({ datacontenttype: null, dataschema: null, subject: null, time: null, data: null, exti: -5, extb: false, exts: 's', extn: null, source: '#fragment' })));
  assert.deepEqual(e, { id: 's-1', source: '#fragment', type: 'dev.podcount.count.requested', query: {} });
  const b = await parseEvent({ ...binary, 'ce-subject': 'tests', 'ce-dataschema': 'https://cloudevents.io/dataschema', 'ce-time': '2018-04-05T16:31:00-01:00', 'ce-knativearrivaltime': '2026-11-23T06:50:00Z' }, Buffer.alloc(0));
  assert.deepEqual(b.query, {});
});

test('data podcount cannot use is 400 bad_event_data: valid CloudEvents, but not nothing and not a JSON object', async () => {
  await refuses({ ...binary, 'content-type': 'application/json' }, '{not json', 'bad_event_data', 'not valid JSON');
  await refuses({ ...binary, 'content-type': 'application/json' }, '[1,2]', 'bad_event_data', 'array');
  await refuses({ ...binary, 'content-type': 'application/json' }, '42', 'bad_event_data', 'number');
  await refuses({ ...binary, 'content-type': 'text/plain' }, 'hello', 'bad_event_data', 'text/plain');
  await refuses({ ...binary, 'content-type': 'application/xml' }, '<a/>', 'bad_event_data', 'application/xml');
  await refuses(structured, event({ datacontenttype: 'text/plain', data: 'Simple text' }), 'bad_event_data', 'text/plain');
  await refuses(structured, event({ data: 'Hello' }), 'bad_event_data', 'JSON string');
  await refuses(structured, event({ data: true }), 'bad_event_data', 'boolean');
  await refuses(structured, event({ data_base64: Buffer.from('hi').toString('base64'), datacontenttype: 'application/octet-stream' }), 'bad_event_data', 'application/octet-stream');
});

test('no data counts the cluster: empty, blank, null; a JSON string holding an object narrows', async () => {
  for (const [headers, body] of [[binary, ''], [{ ...binary, 'content-type': 'application/json' }, '  \n'], [{ ...binary, 'content-type': 'application/json' }, 'null'], [{ ...binary, 'content-type': 'text/plain' }, '']] as const) {
    assert.deepEqual((await parseEvent(headers, Buffer.from(body))).query, {}, JSON.stringify([headers, body]));
  }
  assert.deepEqual((await parseEvent(structured, Buffer.from(event({ data: '{"namespace":"x"}' })))).query, { namespace: 'x' });
});

test('CloudEvent detection: ce-* headers or a cloudevents content type', () => {
  assert.equal(isCloudEvent(binary), true);
  assert.equal(isCloudEvent({ 'content-type': 'application/cloudevents+json' }), true);
  assert.equal(isCloudEvent({ 'content-type': 'application/json' }), false);
  // Any required attribute header means a CloudEvent was meant, so a broken one is refused, not counted as plain HTTP.
  assert.equal(isCloudEvent({ 'ce-type': 'x', 'ce-source': '/s' }), true);
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
    await rejectsWith(parseEvent({ ...binary, 'ce-time': time }, Buffer.alloc(0)), new RegExp(`ce-time\\)? ${JSON.stringify(time).replace(/[.+]/g, '\\$&')} is not an RFC 3339 timestamp`));
  }
  await rejectsWith(parseEvent({ ...binary, 'ce-time': 'y'.repeat(100) }, Buffer.alloc(0)), new RegExp(`ce-time\\)? "${'y'.repeat(64)}" is not`));
  const structured = (time: unknown) => Buffer.from(JSON.stringify({ specversion: '1.0', id: 's', source: '/s', type: 't', time }));
  await rejectsWith(parseEvent({ 'content-type': 'application/cloudevents+json' }, structured('yesterday')), /^Not a valid CloudEvent: .*time "yesterday"/);
  assert.equal((await parseEvent({ 'content-type': 'application/cloudevents+json' }, structured('2026-11-23T06:50:00Z'))).id, 's');
});

test('which check refused an event is in its message', async () => {
  await rejectsWith(parseEvent({ 'content-type': 'application/cloudevents-batch+json' }, Buffer.from('[]')), /^Batched CloudEvents are not supported\.$/);
  await rejectsWith(parseEvent({ ...binary, 'ce-specversion': '0.1' }, Buffer.alloc(0)), /specversion.* "0\.1" is not supported/);
  await rejectsWith(parseEvent({ 'content-type': 'application/cloudevents+json' }, Buffer.from('{"specversion":"1.0","id":"x","type":"t"}')), /^Not a valid CloudEvent: .*source/);
  for (const [ct, body] of [['text/plain', '{"namespace":"a"}'], ['application/json', '"a string"'], ['application/json', '3'], ['application/json', '[1]']]) {
    await assert.rejects(parseEvent({ ...binary, 'content-type': ct! }, Buffer.from(body!)), (err: unknown) => err instanceof PodcountError && err.status === 400 && err.code === 'bad_event_data' && /cannot use its data/.test(err.message));
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
  assert.equal(isCloudEvent({ 'ce-source': '/s' }), true);
  assert.equal(isCloudEvent({ 'ce-type': 't' }), true);
  assert.equal(isCloudEvent({ 'ce-subject': 's', 'ce-traceparent': 'x' }), false, 'optional attributes alone mark nothing');
  assert.equal(isCloudEvent({ 'content-type': 'Application/CloudEvents+JSON; charset=utf-8' }), true);
  assert.equal(isCloudEvent({}), false);
});

/** The bad_event_data message parseEvent rejects with (the hint is checked by refuses()). */
async function unusable(headers: Record<string, string>, body: string): Promise<string> {
  try {
    await parseEvent(headers, Buffer.from(body));
  } catch (err) {
    assert.ok(err instanceof PodcountError && err.code === 'bad_event_data', String(err));
    return err.message;
  }
  return assert.fail('accepted');
}
const cannot = (what: string) => `The event is a valid CloudEvent, but podcount cannot use its data: ${what}.`;

test('data podcount cannot use is described: its media type and first 40 characters, or the JSON kind it is', async () => {
  const json = { ...binary, 'content-type': 'application/json' };
  assert.equal(await unusable({ ...binary, 'content-type': 'text/plain' }, 't'.repeat(100)), cannot(`it is text/plain ("${'t'.repeat(40)}")`));
  assert.equal(await unusable(structured, event({ data: 's'.repeat(100) })), cannot(`it is the JSON string "${'s'.repeat(40)}", not an object`));
  assert.equal(await unusable(structured, event({ data: 'null' })), cannot('it is the JSON string "null", not an object'));
  assert.equal(await unusable(structured, event({ data: '[1]' })), cannot('it is the JSON string "[1]", not an object'));
  assert.equal(await unusable(json, '"a string"'), cannot('it is a JSON string, not an object'));
  assert.equal(await unusable(json, 'false'), cannot('it is a JSON boolean, not an object'));
  assert.equal(await unusable(json, '3'), cannot('it is a JSON number, not an object'));
  assert.equal(await unusable(json, '[]'), cannot('it is a JSON array, not an object'));
  assert.equal(await unusable(json, '{not json'), cannot('it is not valid JSON although its media type is application/json'));
  assert.equal(await unusable(binary, '{not json'), cannot('it is not valid JSON although its media type is unset (JSON)'));
});

test('a media type is read without its parameters and the blanks around them', async () => {
  assert.deepEqual((await parseEvent({ ...binary, 'content-type': 'application/json ; charset=utf-8' }, Buffer.from('{"namespace":"a"}'))).query, { namespace: 'a' });
  assert.equal(isCloudEvent({ 'content-type': 'application/cloudevents+json ;charset=utf-8' }), true);
});
