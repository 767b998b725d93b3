// W3C Trace Context as trace.ts reads and writes it: the spec's rules for traceparent and
// tracestate, which source wins, and the child a reply carries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childTraceparent, parseTraceparent, traceContext, validTracestate } from '../../function/trace.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${PARENT}-01`;

test('a version-00 traceparent parses to its trace id, parent id and flags', () => {
  assert.deepEqual(parseTraceparent(VALID), { traceId: TRACE, parentId: PARENT, flags: '01' });
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${PARENT}-00`), { traceId: TRACE, parentId: PARENT, flags: '00' });
});

test('what the spec calls invalid is refused: case, length, zero ids, version ff, extra fields in version 00', () => {
  for (const bad of [
    VALID.toUpperCase(),
    `00-${TRACE.toUpperCase()}-${PARENT}-01`,
    `00-${'0'.repeat(32)}-${PARENT}-01`,
    `00-${TRACE}-${'0'.repeat(16)}-01`,
    `ff-${TRACE}-${PARENT}-01`,
    `00-${TRACE}-${PARENT}-01-extra`,
    `00-${TRACE}-${PARENT}-1`,
    `00-${TRACE.slice(1)}-${PARENT}-01`,
    `00_${TRACE}_${PARENT}_01`,
    `0g-${TRACE}-${PARENT}-01`,
    `00-${TRACE}-${PARENT}-0x`,
    `${VALID}, ${VALID}`, // two headers, joined by Node
    // 55 characters, but a field one short and a '-' at the end: each field's length counts.
    `00-${TRACE.slice(1)}-${PARENT}-01-`,
    `00-${TRACE}-${PARENT.slice(1)}-01-`,
    `00-${TRACE}-${PARENT}-1-`,
    // 55 characters with too few dashes: a missing field is refused, not read past.
    `${'0'.repeat(22)}-${TRACE}`,
    `00abc-${TRACE}-${PARENT}`,
    // A later version whose own field is longer than two digits: the fields shift out of the first 55 characters.
    `f1xff-${TRACE}-${PARENT}-01`,
    '', 'garbage', undefined, 42, [VALID],
  ]) assert.equal(parseTraceparent(bad), undefined, String(bad));
});

test('a later version is parsed leniently: the four known fields, anything after a dash ignored', () => {
  assert.deepEqual(parseTraceparent(`01-${TRACE}-${PARENT}-01`), { traceId: TRACE, parentId: PARENT, flags: '01' });
  assert.deepEqual(parseTraceparent(`cc-${TRACE}-${PARENT}-03-what-the-future-holds`), { traceId: TRACE, parentId: PARENT, flags: '03' });
  assert.equal(parseTraceparent(`cc-${TRACE}-${PARENT}-03x`), undefined);
});

test('tracestate is kept as sent when valid, refused when over 32 members, 512 characters, malformed or with a repeated key', () => {
  for (const ok of ['congo=t61rcWkgMzE', 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', 'a=1 , b=2', 'a=v ', 'a=1,,b=2', 'tenant@vendor=x', 'k=v with space']) assert.equal(validTracestate(ok), ok);
  const members = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v`).join(',');
  assert.equal(validTracestate(members(32)), members(32));
  const longest = `a=${'x'.repeat(256)},b=${'y'.repeat(251)}`;
  assert.equal(longest.length, 512);
  assert.equal(validTracestate(longest), longest, 'exactly 512 characters is still valid');
  for (const bad of [members(33), `a=${'x'.repeat(250)},b=${'y'.repeat(250)},c=${'z'.repeat(20)}`, 'Upper=1', 'a=1,a=2', 'a', 'a=b=c', 'a=,', '=v', 'a=v\u00e9', '', ',', undefined, 7]) {
    assert.equal(validTracestate(bad), undefined, String(bad));
  }
});

test('a request without a traceparent starts a trace: fresh random ids, nothing ignored', () => {
  const a = traceContext({ header: {} });
  const b = traceContext({ header: {} });
  assert.match(a.traceId, /^[0-9a-f]{32}$/);
  assert.match(a.spanId, /^[0-9a-f]{16}$/);
  assert.notEqual(a.traceId, b.traceId);
  assert.equal(a.parentSpanId, undefined);
  assert.equal(a.flags, '00');
  assert.equal(a.ignored, undefined);
  assert.ok(parseTraceparent(childTraceparent(a)), 'the reply\'s traceparent is itself valid');
});

test('a valid traceparent is continued: same trace, podcount\'s own span, the caller\'s span as parent, flags and tracestate kept', () => {
  const t = traceContext({ header: { traceparent: VALID, tracestate: 'rojo=1' } });
  assert.equal(t.traceId, TRACE);
  assert.equal(t.parentSpanId, PARENT);
  assert.notEqual(t.spanId, PARENT);
  assert.equal(t.tracestate, 'rojo=1');
  assert.equal(t.ignored, undefined, 'nothing was ignored');
  assert.equal(traceContext({ header: { traceparent: VALID } }).ignored, undefined, 'no tracestate is nothing dropped');
  assert.equal(childTraceparent(t), `00-${TRACE}-${t.spanId}-01`);
  // A later version is continued as version 00, the version podcount speaks.
  assert.equal(childTraceparent(traceContext({ header: { traceparent: `01-${TRACE}-${PARENT}-01-x` } })).slice(0, 3), '00-');
});

test('the HTTP header wins over the event extension; the extension is used when the header is absent or invalid', () => {
  const other = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-00`;
  assert.equal(traceContext({ header: { traceparent: VALID }, event: { traceparent: other } }).traceId, TRACE);
  assert.equal(traceContext({ header: {}, event: { traceparent: other, tracestate: 'x=1' } }).traceId, 'a'.repeat(32));
  assert.equal(traceContext({ header: {}, event: { traceparent: other, tracestate: 'x=1' } }).tracestate, 'x=1');
  const fallback = traceContext({ header: { traceparent: 'broken', tracestate: 'h=1' }, event: { traceparent: other } });
  assert.equal(fallback.traceId, 'a'.repeat(32));
  assert.equal(fallback.tracestate, undefined, 'the header\'s tracestate does not go with the event\'s traceparent');
  assert.match(fallback.ignored ?? '', /header traceparent "broken" is not a valid W3C traceparent/);
});

test('a malformed traceparent is ignored, a new trace started, and the reason kept for the log line', () => {
  const t = traceContext({ header: { traceparent: `00-${'0'.repeat(32)}-${PARENT}-01`, tracestate: 'a=1' } });
  assert.notEqual(t.traceId, '0'.repeat(32));
  assert.equal(t.parentSpanId, undefined);
  assert.equal(t.tracestate, undefined, 'tracestate is dropped with its traceparent');
  assert.match(t.ignored ?? '', /^header traceparent "00-0{32}-00f067aa0ba902b7-01" is not a valid W3C traceparent$/);
  // An invalid tracestate alone is dropped; the traceparent is still continued.
  const s = traceContext({ header: { traceparent: VALID, tracestate: 'A=1' } });
  assert.equal(s.traceId, TRACE);
  assert.equal(s.tracestate, undefined);
  assert.match(s.ignored ?? '', /header tracestate dropped/);
});

test('the log line\'s reason names every ignored traceparent, each cut to 80 characters, separated by "; "', () => {
  const long = `00-${TRACE}-${PARENT}-01${'x'.repeat(100)}`;
  const t = traceContext({ header: { traceparent: long }, event: { traceparent: 'event-broken' } });
  assert.equal(t.parentSpanId, undefined);
  assert.equal(t.ignored, `header traceparent ${JSON.stringify(long.slice(0, 80))} is not a valid W3C traceparent; event traceparent "event-broken" is not a valid W3C traceparent`);
});

test('a new trace or span id is never all zeros (an invalid id): an all-zero draw is drawn again', (t) => {
  let draws = 0;
  // The first two draws are all zeros, then random bytes.
  const real = crypto.getRandomValues.bind(crypto);
  t.mock.method(crypto, 'getRandomValues', <T extends ArrayBufferView | null>(array: T): T => (draws++ < 2 ? array : real(array as never) as T));
  const c = traceContext({ header: {} });
  assert.ok(draws >= 4, 'the zero draws were refused');
  assert.match(c.traceId, /^[0-9a-f]{32}$/);
  assert.notEqual(c.traceId, '0'.repeat(32));
  assert.notEqual(c.spanId, '0'.repeat(16));
  assert.ok(parseTraceparent(childTraceparent(c)), 'the reply\'s traceparent is valid');
});
