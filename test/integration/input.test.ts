// Bad input gets a clear 4xx, and nothing a caller sends makes podcount answer 5xx from its own
// code or crash: a property test throws random methods, paths, headers, queries and bodies at the
// spawned function, which stays connected to a healthy real API server throughout.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { usePodcount } from '../support/fixture.ts';
import { createPods } from '../support/pods.ts';

/** A raw request: node:http, so methods and headers fetch() would refuse still get sent. */
function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('bad input', () => {
  const pc = usePodcount({ env: { PODCOUNT_MAX_BODY_BYTES: '1024' }, seed: (cp) => createPods(cp, 'podcount', 5) });

  const ce = { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/t', 'ce-type': 'dev.podcount.count.requested' };
  const cases: Array<[string, string, string, Record<string, string>, string | Buffer | undefined, number, string]> = [
    ['bad namespace', 'GET', '/?namespace=Not_A_Namespace', {}, undefined, 400, 'bad_namespace'],
    ['unknown parameter', 'GET', '/?name=x', {}, undefined, 400, 'unknown_parameter'],
    ['unknown groupBy', 'GET', '/?groupBy=pods', {}, undefined, 400, 'bad_parameter'],
    ['groupBy given twice', 'GET', '/?groupBy=node&groupBy=node', {}, undefined, 400, 'bad_parameter'],
    ['groupBy not a string in event data', 'POST', '/', { ...ce, 'content-type': 'application/json' }, '{"groupBy":["node"]}', 400, 'bad_parameter'],
    ['bad selector (server-side)', 'GET', '/?labelSelector=a%20in%20(', {}, undefined, 400, 'bad_selector'],
    ['malformed CloudEvent', 'POST', '/', { ...ce, 'ce-source': '', 'content-type': 'application/json' }, '{}', 400, 'bad_event'],
    ['CloudEvent with broken JSON data', 'POST', '/', { ...ce, 'content-type': 'application/json' }, '{"namespace":', 400, 'bad_event_data'],
    ['CloudEvent with text data', 'POST', '/', { ...ce, 'content-type': 'text/plain' }, 'count please', 400, 'bad_event_data'],
    ['structured CloudEvent with an empty subject', 'POST', '/', { 'content-type': 'application/cloudevents+json' }, JSON.stringify({ specversion: '1.0', id: '1', source: '/t', type: 't', subject: '' }), 400, 'bad_event'],
    ['oversized body', 'POST', '/', { 'content-type': 'application/json' }, Buffer.alloc(4096, 'a'), 413, 'body_too_large'],
    ['wrong method', 'DELETE', '/', {}, undefined, 405, 'method_not_allowed'],
    ['wrong method on healthz', 'POST', '/healthz', {}, '', 405, 'method_not_allowed'],
    ['unknown path', 'GET', '/pods', {}, undefined, 404, 'not_found'],
    ['unacceptable Accept', 'GET', '/', { accept: 'image/png' }, undefined, 406, 'not_acceptable'],
  ];
  for (const [name, method, path, headers, body, status, code] of cases) {
    test(`${name}: ${status} ${code}`, async () => {
      const res = await raw(pc.fn.port, method, path, headers, typeof body === 'string' ? Buffer.from(body) : body);
      assert.equal(res.status, status, res.text);
      const parsed = JSON.parse(res.text) as { error: { code: string; message: string; hint: string } };
      assert.equal(parsed.error.code, code);
      assert.ok(parsed.error.message.length > 0 && parsed.error.hint.length > 0);
    });
  }

  test('OPTIONS answers CloudEvents webhook validation', async () => {
    const res = await raw(pc.fn.port, 'OPTIONS', '/', { 'webhook-request-origin': 'eventemitter.example.com' });
    assert.equal(res.status, 204);
  });

  test('property: random requests never get a 5xx from podcount, and the process stays up', async () => {
    const header = fc.tuple(
      fc.constantFrom('accept', 'content-type', 'ce-specversion', 'ce-id', 'ce-source', 'ce-type', 'ce-time', 'ce-subject', 'ce-dataschema', 'ce-my.ext', 'ce-data_base64', 'traceparent', 'tracestate', 'ce-traceparent', 'ce-tracestate', 'x-any', 'prefer', 'webhook-request-origin'),
      fc.stringMatching(/^[\x20-\x7e]{0,40}$/),
    );
    const query = fc.array(fc.tuple(
      fc.constantFrom('namespace', 'labelSelector', 'fieldSelector', 'groupBy', 'x', ''),
      fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('default', 'app=web', 'status.phase=Running', 'a in (b', 'metadata.name=x', 'namespace', 'phase', 'node')),
    ), { maxLength: 3 });
    const body = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      fc.record({ namespace: fc.string({ maxLength: 20 }), labelSelector: fc.string({ maxLength: 20 }) }).map((o) => JSON.stringify(o)),
      fc.record({ groupBy: fc.oneof(fc.constantFrom('namespace', 'phase', 'node'), fc.string({ maxLength: 10 }), fc.integer()), namespace: fc.constantFrom('default', 'podcount') }, { requiredKeys: ['groupBy'] }).map((o) => JSON.stringify(o)),
      fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a).toString('latin1')),
      // Structured CloudEvents: attributes of every JSON type, present, null or missing.
      fc.dictionary(
        fc.constantFrom('specversion', 'id', 'source', 'type', 'time', 'subject', 'dataschema', 'datacontenttype', 'data', 'data_base64', 'ext', 'My.Ext'),
        fc.oneof(fc.constantFrom('1.0', '', 'application/json', 'text/plain', '2018-04-05T17:31:00Z', 'e30='), fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 })),
      ).map((o) => JSON.stringify(o)),
    );
    const req = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
      path: fc.oneof(fc.constantFrom('/', '/healthz', '/diagnostics', '/metrics', '//', '/%2e%2e/', '/?'), fc.webPath()),
      query,
      headers: fc.array(header, { maxLength: 6 }),
      structured: fc.boolean(),
      body,
    });
    await fc.assert(fc.asyncProperty(req, async (r) => {
      const qs = r.query.length ? `?${r.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}` : '';
      const path = (r.path.startsWith('/') ? r.path : `/${r.path}`) + (r.path.includes('?') ? '' : qs);
      let res;
      try {
        const headers = { ...Object.fromEntries(r.headers), ...(r.structured ? { 'content-type': 'application/cloudevents+json' } : {}) };
        res = await raw(pc.fn.port, r.method, path, headers, r.body === undefined ? undefined : Buffer.from(r.body, 'latin1'));
      } catch (err) {
        // Requests node:http itself refuses to send (unescaped path characters) never reach podcount.
        if (['ERR_UNESCAPED_CHARACTERS', 'ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN'].includes((err as { code?: string }).code ?? '')) return;
        throw err;
      }
      assert.ok(res.status < 500, `${r.method} ${path} ${JSON.stringify(r.headers)} -> ${res.status} ${res.text}`);
    }), { numRuns: 300 });
    assert.equal(pc.fn.child.exitCode, null, 'still running');
    assert.equal((await pc.fn.get('/')).status, 200);
  });
});
