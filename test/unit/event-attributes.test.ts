// The CloudEvents 1.0 attribute checks themselves (event-attributes.ts), called directly: what each
// mode reads, what it refuses and the exact message a sender acts on. The spawned function's answers
// to the same rules are test/integration/event-conformance.test.ts; this file replays the rule cases
// (format-cases.ts) in-process so the unit phase proves them too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FormatCase, INVALID_CASES, VALID_CASES } from '../conformance/format-cases.ts';
import { toBinary } from '../conformance/http-modes.ts';
import { checkBinary, checkStructured, type CheckedEvent } from '../../function/event-attributes.ts';
import { PodcountError } from '../../function/errors.ts';

type Headers = Record<string, string | string[] | undefined>;

const core = { 'ce-specversion': '1.0', 'ce-id': 'e-1', 'ce-source': '/s', 'ce-type': 't' };
const base = { specversion: '1.0', id: 's-1', source: '/s', type: 't' };
const json = (event: Record<string, unknown>) => Buffer.from(JSON.stringify(event));

/** The PodcountError `check` throws: a 400 bad_event with a hint; its message returned. */
function refusal(check: () => unknown): string {
  try {
    check();
  } catch (err) {
    assert.ok(err instanceof PodcountError, String(err));
    assert.equal(err.status, 400, err.message);
    assert.equal(err.code, 'bad_event', err.message);
    assert.match(err.hint, /CloudEvent/);
    return err.message;
  }
  assert.fail('accepted');
}

const binaryRefusal = (headers: Headers, body = '') => refusal(() => checkBinary(headers, Buffer.from(body)));
const structuredRefusal = (event: Record<string, unknown> | string) => refusal(() => checkStructured(typeof event === 'string' ? Buffer.from(event) : json(event)));

/** `name` as a word of the message (so "id" is not found in "valid"), as the integration replay checks it. */
function names(message: string, name: string): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9_.])${escaped}([^A-Za-z0-9_.]|$)`).test(message);
}

test('the JSON-format rule cases: valid events pass the attribute checks in both modes, invalid ones are refused naming the attribute', () => {
  const replay = (c: FormatCase, mode: 'binary' | 'structured') => {
    const outcome = (mode === 'binary' ? c.binary?.outcome : undefined) ?? c.structured;
    const check = () => {
      if (mode === 'structured') return checkStructured(json(c.event));
      const message = toBinary(c.event);
      // Node hands the handler lowercase header names.
      return checkBinary(Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k.toLowerCase(), v])), message.body);
    };
    const label = `${c.id}, ${mode}`;
    if (outcome.answer !== 'bad_event') {
      // Valid CloudEvents (whatever podcount then makes of their data) pass the attribute checks.
      assert.doesNotThrow(check, label);
      return;
    }
    const message = refusal(check);
    for (const n of outcome.names) assert.ok(names(message, n), `${label}: ${message} names ${n}`);
  };
  for (const c of [...VALID_CASES, ...INVALID_CASES]) for (const mode of ['binary', 'structured'] as const) replay(c, mode);
});

test('a binary event reads its attributes from ce-* headers, its media type from Content-Type and its data from the body', () => {
  const headers = { ...core, 'ce-dataschema': 'https://example.com/schema', 'ce-subject': 'sub', 'ce-time': '2026-11-23T06:50:00Z', 'content-type': 'application/json', 'ce-traceparent': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'ce-myext': 'x', host: 'podcount' };
  const e = checkBinary(headers, Buffer.from('{}'));
  assert.deepEqual(e, {
    id: 'e-1', source: '/s', type: 't', datacontenttype: 'application/json', data: Buffer.from('{}'),
    // Only the extension headers: never a core attribute's header, never a non-ce-* header.
    extensions: { traceparent: headers['ce-traceparent'], myext: 'x' },
  } satisfies CheckedEvent);
});

test('a binary event with an empty body has no data; any byte is data', () => {
  assert.equal(checkBinary(core, Buffer.alloc(0)).data, undefined);
  assert.deepEqual(checkBinary(core, Buffer.from(' ')).data, Buffer.from(' '));
});

test('a repeated attribute header is read as HTTP joins it (", "), and a header whose value is undefined is absent', () => {
  assert.equal(checkBinary({ ...core, 'ce-id': ['a', 'b'] }, Buffer.alloc(0)).id, 'a, b');
  assert.equal(binaryRefusal({ ...core, 'content-type': ['application/json', 'text/plain'] }),
    'Not a valid CloudEvent: datacontenttype (header Content-Type) "application/json, text/plain" is not a media type (RFC 2046), e.g. application/json.');
  assert.deepEqual(checkBinary({ ...core, 'ce-subject': undefined, 'ce-myext': undefined }, Buffer.alloc(0)).extensions, {});
  assert.equal(binaryRefusal({ ...core, 'ce-id': undefined }), 'Not a valid CloudEvent: id (header ce-id) is missing.');
});

test('a structured event\'s extensions are its other members, never a core attribute', () => {
  const e = checkStructured(json({ ...base, datacontenttype: 'application/json', dataschema: 'urn:x', subject: 's', time: '2026-11-23T06:50:00Z', data: { namespace: 'a' }, myext: 1 }));
  assert.deepEqual(e, { id: 's-1', source: '/s', type: 't', datacontenttype: 'application/json', data: { namespace: 'a' }, extensions: { myext: 1 } } satisfies CheckedEvent);
  assert.deepEqual(checkStructured(json({ ...base, data_base64: 'e30=' })).extensions, {});
});

test('a structured body that is JSON but not an object is refused saying what it is', () => {
  assert.equal(structuredRefusal('null'), 'Not a valid CloudEvent: the structured event is null, not a JSON object.');
  assert.equal(structuredRefusal('42'), 'Not a valid CloudEvent: the structured event is a number, not a JSON object.');
  assert.equal(structuredRefusal('"1.0"'), 'Not a valid CloudEvent: the structured event is a string, not a JSON object.');
  assert.equal(structuredRefusal('[{}]'), 'Not a valid CloudEvent: the structured event is an array, not a JSON object.');
});

test('an attribute of the wrong JSON type is refused naming the type it has; a required one set to null is missing', () => {
  assert.equal(structuredRefusal({ ...base, id: { a: 1 } }), 'Not a valid CloudEvent: id must be a string, not an object.');
  assert.equal(structuredRefusal({ ...base, id: ['x'] }), 'Not a valid CloudEvent: id must be a string, not an array.');
  assert.equal(structuredRefusal({ ...base, source: true }), 'Not a valid CloudEvent: source must be a string, not a boolean.');
  assert.equal(structuredRefusal({ ...base, subject: 5 }), 'Not a valid CloudEvent: subject must be a string, not a number.');
  assert.equal(structuredRefusal({ ...base, id: null }), 'Not a valid CloudEvent: id is missing.');
  assert.equal(structuredRefusal({ ...base, specversion: null }), 'Not a valid CloudEvent: specversion is missing.');
});

test('an unsupported specversion is quoted in the message, cut at 20 characters', () => {
  assert.equal(structuredRefusal({ ...base, specversion: '0.3' }), 'Not a valid CloudEvent: specversion "0.3" is not supported: podcount reads CloudEvents 1.0.');
  assert.equal(binaryRefusal({ ...core, 'ce-specversion': 'v'.repeat(100) }), `Not a valid CloudEvent: specversion (header ce-specversion) "${'v'.repeat(20)}" is not supported: podcount reads CloudEvents 1.0.`);
});

test('datacontenttype must be a media type and dataschema an absolute URI, each message saying so', () => {
  assert.equal(structuredRefusal({ ...base, datacontenttype: 'json' }), 'Not a valid CloudEvent: datacontenttype "json" is not a media type (RFC 2046), e.g. application/json.');
  for (const dataschema of ['https://cloudevents.io/schema', 'urn:isbn:0451450523', 'HTTP://x.example/a?b#c']) {
    assert.doesNotThrow(() => checkStructured(json({ ...base, dataschema })), dataschema);
  }
  // A relative reference is not absolute, even when a later part looks like a scheme; nor is anything with a space.
  for (const dataschema of ['/schemas/v1:event', '1http://example.com', 'https://example.com/a b', 'https://example.com/\n']) {
    assert.equal(structuredRefusal({ ...base, dataschema }), `Not a valid CloudEvent: dataschema ${JSON.stringify(dataschema)} is not an absolute URI.`);
  }
  assert.equal(binaryRefusal({ ...core, 'ce-dataschema': 'x y' }), 'Not a valid CloudEvent: dataschema (header ce-dataschema) "x y" is not an absolute URI.');
});

test('data_base64 is decoded when it is padded base64 text; anything else is refused saying so', () => {
  for (const [encoded, decoded] of [['TWFu', 'Man'], ['TWE=', 'Ma'], ['TQ==', 'M'], ['TWFuTQ==', 'ManM'], ['', '']] as const) {
    assert.deepEqual(checkStructured(json({ ...base, data_base64: encoded })).data, Buffer.from(decoded), encoded);
  }
  // Not whole 4-character groups, a bad padding, not a string (1234 would read as base64 text).
  for (const data_base64 of ['TWF', 'TQ=', 'T===', 'TW=u', '#$==', 'not base64!', 1234, true, ['TWFu'], { a: 'TWFu' }]) {
    assert.equal(structuredRefusal({ ...base, data_base64 }), 'Not a valid CloudEvent: data_base64 is not a base64 string.', JSON.stringify(data_base64));
  }
  assert.equal(structuredRefusal({ ...base, data: {}, data_base64: 'e30=' }), 'Not a valid CloudEvent: data and data_base64 are both set; an event carries its data in one of them.');
});

test('an extension with an invalid name is refused naming it (and its header, in binary mode), cut at 64 characters', () => {
  const rule = 'has an invalid name: attribute names are lowercase letters a-z and digits only.';
  assert.equal(structuredRefusal({ ...base, 'my-ext': 'x' }), `Not a valid CloudEvent: extension "my-ext" ${rule}`);
  assert.equal(structuredRefusal({ ...base, ['E'.repeat(100)]: 'x' }), `Not a valid CloudEvent: extension "${'E'.repeat(64)}" ${rule}`);
  assert.equal(binaryRefusal({ ...core, 'ce-my_ext': 'x' }), `Not a valid CloudEvent: extension "my_ext" (header ce-my_ext) ${rule}`);
  const long = 'a_'.repeat(50);
  assert.equal(binaryRefusal({ ...core, [`ce-${long}`]: 'x' }), `Not a valid CloudEvent: extension "${long.slice(0, 64)}" (header ce-${long.slice(0, 64)}) ${rule}`);
});

test('an extension value is a string, a boolean, null or a 32-bit integer; any other is refused quoting it, cut at 64 characters', () => {
  const ints = [-(2 ** 31), 2 ** 31 - 1, 0, null];
  for (const ext of ints) assert.deepEqual(checkStructured(json({ ...base, ext })).extensions, { ext }, String(ext));
  const refused = (value: unknown) => `Not a valid CloudEvent: extension "ext" must be a string, a boolean or a 32-bit integer, not ${JSON.stringify(value).slice(0, 64)}.`;
  for (const ext of [-(2 ** 31) - 1, 2 ** 31, 0.5, ['x'.repeat(100)], { a: 1 }]) {
    assert.equal(structuredRefusal({ ...base, ext }), refused(ext), JSON.stringify(ext));
  }
});
