// W3C trace context through the spawned function, against the real API server: a traceparent
// header or a CloudEvent's traceparent extension is continued (the log line's ids, the reply's
// ce-traceparent a child of podcount's span), a request without one starts a trace, and a
// malformed one is ignored (a count, never a 400) with the log line saying so.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { usePodcount } from '../support/fixture.ts';
import type { LogLine } from '../support/function-process.ts';
import { createPods } from '../support/pods.ts';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE}-${PARENT}-01`;

describe('trace context', () => {
  const pc = usePodcount({ seed: (cp) => createPods(cp, 'podcount', 3) });

  const event = (id: string, extra: Record<string, string> = {}) => ({ 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/trace-test', 'ce-type': 'dev.podcount.count.requested', ...extra });
  const line = (match: (l: LogLine) => boolean) => pc.fn.waitForLog((l) => l.msg === 'invocation' && match(l));

  /** The reply's traceparent, split into its fields. */
  function replyParent(res: Response): { version: string; traceId: string; parentId: string; flags: string } {
    const [version, traceId, parentId, flags] = (res.headers.get('ce-traceparent') ?? '').split('-');
    assert.ok(version && traceId && parentId && flags, `a ce-traceparent: ${res.headers.get('ce-traceparent')}`);
    return { version, traceId, parentId, flags };
  }

  test('a traceparent header is continued: the log line has its trace id, the caller\'s span as parent and a span of podcount\'s own', async () => {
    const res = await pc.fn.get('/?namespace=podcount', { traceparent: TRACEPARENT, tracestate: 'rojo=00f067aa0ba902b7' });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { count: number }).count, 3);
    const l = await line((x) => x['traceId'] === TRACE);
    assert.equal(l['parentSpanId'], PARENT);
    assert.match(String(l['spanId']), /^[0-9a-f]{16}$/);
    assert.notEqual(l['spanId'], PARENT);
    assert.equal(l['traceparentIgnored'], undefined);
    assert.equal(res.headers.get('traceparent'), null, 'a plain answer carries no trace header');
  });

  test('a binary CloudEvent\'s ce-traceparent is continued, and the reply\'s ce-traceparent is a child: same trace, podcount\'s span as parent', async () => {
    const id = randomUUID();
    const res = await pc.fn.post('/', '', event(id, { 'ce-traceparent': TRACEPARENT, 'ce-tracestate': 'congo=t61rcWkgMzE' }));
    assert.equal(res.status, 200, await res.clone().text());
    const l = await line((x) => x['eventId'] === id);
    assert.deepEqual([l['traceId'], l['parentSpanId']], [TRACE, PARENT]);
    const reply = replyParent(res);
    assert.deepEqual(reply, { version: '00', traceId: TRACE, parentId: l['spanId'], flags: '01' });
    assert.notEqual(reply.parentId, PARENT, 'a new span, not the caller\'s');
    assert.equal(res.headers.get('ce-tracestate'), 'congo=t61rcWkgMzE');
  });

  test('a structured CloudEvent\'s traceparent attribute is continued the same way', async () => {
    const id = randomUUID();
    const body = JSON.stringify({ specversion: '1.0', id, source: '/trace-test', type: 'dev.podcount.count.requested', traceparent: TRACEPARENT });
    const res = await pc.fn.post('/', body, { 'content-type': 'application/cloudevents+json' });
    assert.equal(res.status, 200, await res.clone().text());
    const l = await line((x) => x['eventId'] === id);
    assert.deepEqual([l['traceId'], l['parentSpanId']], [TRACE, PARENT]);
    assert.deepEqual(replyParent(res), { version: '00', traceId: TRACE, parentId: l['spanId'], flags: '01' });
  });

  test('the HTTP traceparent header (the hop that delivered the event) wins over the event\'s extension', async () => {
    const id = randomUUID();
    const hop = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-00`;
    const res = await pc.fn.post('/', '', { ...event(id, { 'ce-traceparent': TRACEPARENT }), traceparent: hop });
    assert.equal(res.status, 200);
    const l = await line((x) => x['eventId'] === id);
    assert.deepEqual([l['traceId'], l['parentSpanId']], ['1'.repeat(32), '2'.repeat(16)]);
    assert.deepEqual(replyParent(res), { version: '00', traceId: '1'.repeat(32), parentId: l['spanId'], flags: '00' });
  });

  test('a request without one starts a trace: fresh ids in the log line, and the reply continues that trace', async () => {
    const id = randomUUID();
    const res = await pc.fn.post('/', '', event(id));
    assert.equal(res.status, 200);
    const l = await line((x) => x['eventId'] === id);
    assert.match(String(l['traceId']), /^[0-9a-f]{32}$/);
    assert.notEqual(l['traceId'], '0'.repeat(32));
    assert.equal(l['parentSpanId'], undefined);
    assert.deepEqual(replyParent(res), { version: '00', traceId: l['traceId'], parentId: l['spanId'], flags: '00' });
    assert.equal(res.headers.get('ce-tracestate'), null);
  });

  test('a malformed traceparent is ignored as the W3C spec requires: the count is answered, a new trace started, the log line says what was ignored', async () => {
    for (const bad of [`00-${'0'.repeat(32)}-${PARENT}-01`, TRACEPARENT.toUpperCase(), `ff-${TRACE}-${PARENT}-01`, 'not-a-trace']) {
      const res = await pc.fn.get('/?namespace=podcount', { traceparent: bad, tracestate: 'rojo=1' });
      assert.equal(res.status, 200, bad);
      assert.equal(((await res.json()) as { count: number }).count, 3);
      const l = await line((x) => String(x['traceparentIgnored'] ?? '').includes(JSON.stringify(bad)));
      assert.match(String(l['traceparentIgnored']), /^header traceparent ".*" is not a valid W3C traceparent$/);
      assert.notEqual(l['traceId'], TRACE);
      assert.equal(l['parentSpanId'], undefined);
    }
    // A bad event extension too: the reply starts a new trace instead of failing the event.
    const id = randomUUID();
    const res = await pc.fn.post('/', '', event(id, { 'ce-traceparent': 'junk' }));
    assert.equal(res.status, 200);
    const l = await line((x) => x['eventId'] === id);
    assert.match(String(l['traceparentIgnored']), /^event traceparent "junk" is not a valid W3C traceparent$/);
    assert.equal(replyParent(res).traceId, l['traceId']);
  });

  test('property: whatever traceparent comes, the count is answered; a valid version-00 one is continued, anything else ignored and said so', async () => {
    // Mostly well-formed parts, each sometimes broken: upper case, all zeros, a digit short or long.
    const part = (n: number) => fc.oneof(
      { weight: 6, arbitrary: fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`)) },
      { weight: 1, arbitrary: fc.stringMatching(new RegExp(`^[0-9a-fA-F]{${n - 1}}[A-F]$`)) },
      { weight: 1, arbitrary: fc.constant('0'.repeat(n)) },
      { weight: 1, arbitrary: fc.stringMatching(new RegExp(`^[0-9a-f]{${n - 1}}$|^[0-9a-f]{${n + 1}}$`)) },
    );
    const header = fc.record({
      version: fc.oneof({ weight: 6, arbitrary: fc.constant('00') }, { weight: 1, arbitrary: fc.constantFrom('ff', '0A', 'f') }),
      traceId: part(32),
      parentId: part(16),
      flags: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('00', '01') }, { weight: 1, arbitrary: fc.constantFrom('0', 'G1', '1F') }),
      suffix: fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('-', '-x', ' ') }),
    });
    let continued = 0;
    // The spec's version-00 grammar, written out independently of trace.ts.
    const valid = (h: { version: string; traceId: string; parentId: string; flags: string; suffix: string }) =>
      h.version === '00' && /^[0-9a-f]{32}$/.test(h.traceId) && /^[0-9a-f]{16}$/.test(h.parentId) && /^[0-9a-f]{2}$/.test(h.flags)
      && !/^0+$/.test(h.traceId) && !/^0+$/.test(h.parentId) && h.suffix.trim() === '';
    await fc.assert(fc.asyncProperty(header, async (h) => {
      const value = `${h.version}-${h.traceId}-${h.parentId}-${h.flags}${h.suffix}`;
      const marker = randomUUID();
      const res = await pc.fn.get(`/?namespace=podcount&labelSelector=${encodeURIComponent(`run notin (${marker})`)}`, { traceparent: value });
      assert.equal(res.status, 200, `${value}: ${await res.clone().text()}`);
      await res.text();
      const l = await line((x) => String(x['labelSelector'] ?? '').includes(marker));
      if (valid(h)) {
        continued += 1;
        assert.deepEqual([l['traceId'], l['parentSpanId'], l['traceparentIgnored']], [h.traceId, h.parentId, undefined], value);
      } else {
        assert.match(String(l['traceparentIgnored']), /^header traceparent ".*" is not a valid W3C traceparent$/, value);
        assert.equal(l['parentSpanId'], undefined, value);
      }
      assert.match(String(l['traceId']), /^(?!0{32})[0-9a-f]{32}$/);
    }), { numRuns: 100 });
    // About one in five is valid by construction: both kinds were tried (either missing has odds below 1e-9).
    assert.ok(continued > 0 && continued < 100, `both kinds were tried: ${continued} of 100 continued`);
  });
});
