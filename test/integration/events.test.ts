// CloudEvents in (binary, structured, the shapes a PingSource, a Broker Trigger and the CronJob
// send) and a binary CloudEvent reply out, against the real API server.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { HTTP, type CloudEvent } from 'cloudevents';
import { usePodcount } from '../support/fixture.ts';
import { createNamespace } from '../support/namespaces.ts';
import { createPods } from '../support/pods.ts';

describe('CloudEvents', () => {
  const pc = usePodcount({
    env: { K_SERVICE: 'podcount' },
    seed: async (cp) => {
      await createNamespace(cp, 'shop');
      await createPods(cp, 'shop', 6, { labels: { app: 'cart' } });
      await createPods(pc.cp, 'podcount', 2);
    },
  });

  /** Asserts a valid reply event and returns it. */
  async function reply(res: Response, request: { id: string; source: string; type: string }) {
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const headers = Object.fromEntries(res.headers.entries());
    const event = HTTP.toEvent({ headers, body: text });
    assert.ok(!Array.isArray(event));
    assert.equal((event as CloudEvent<unknown>).validate(), true);
    assert.equal(event.specversion, '1.0');
    assert.equal(event.type, 'dev.podcount.pods.counted');
    assert.equal(event.source, '/apis/serving.knative.dev/v1/namespaces/podcount/services/podcount');
    assert.notEqual(event.id, request.id, 'a fresh id, not the request\'s');
    assert.match(headers['content-type'] ?? '', /^application\/json/);
    const data = event.data as Record<string, unknown>;
    assert.deepEqual(data['inResponseTo'], request);
    assert.equal(event.subject, data['scope']);
    return { event, data };
  }

  test('binary mode with JSON data narrowing the count', async () => {
    const req = { id: randomUUID(), source: '/apis/batch/v1/namespaces/podcount/cronjobs/podcount-ping', type: 'dev.podcount.count.requested' };
    const res = await pc.fn.post('/', JSON.stringify({ namespace: 'shop', labelSelector: 'app=cart' }), {
      'ce-specversion': '1.0', 'ce-id': req.id, 'ce-source': req.source, 'ce-type': req.type, 'ce-time': new Date().toISOString(),
      'content-type': 'application/json',
    });
    const { data, event } = await reply(res, req);
    assert.equal(data['count'], 6);
    assert.equal(data['namespace'], 'shop');
    assert.equal(event.subject, 'namespace');
  });

  test('structured mode, charset in upper case', async () => {
    const req = { id: randomUUID(), source: '/curl', type: 'dev.podcount.count.requested' };
    const res = await pc.fn.post('/', JSON.stringify({ specversion: '1.0', ...req, datacontenttype: 'application/json', data: { namespace: 'podcount' } }), {
      'content-type': 'application/cloudevents+json; charset=UTF-8',
    });
    const { data } = await reply(res, req);
    assert.equal(data['count'], 2);
  });

  test('a PingSource tick: no data, no content type, counts the cluster', async () => {
    const req = { id: randomUUID(), source: '/apis/v1/namespaces/podcount/pingsources/podcount-ping', type: 'dev.knative.sources.ping' };
    const res = await pc.fn.post('/', '', { 'ce-specversion': '1.0', 'ce-id': req.id, 'ce-source': req.source, 'ce-type': req.type, 'ce-time': new Date().toISOString() });
    const { data, event } = await reply(res, req);
    assert.equal(data['count'], 8);
    assert.equal(event.subject, 'cluster');
  });

  test('a Broker delivery: ce-knativearrivaltime, traceparent, Prefer: reply, Kn-Namespace', async () => {
    const req = { id: randomUUID(), source: '/apis/v1/namespaces/podcount/brokers/default', type: 'dev.podcount.count.requested' };
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await pc.fn.post('/', '{}', {
      'ce-specversion': '1.0', 'ce-id': req.id, 'ce-source': req.source, 'ce-type': req.type,
      'ce-knativearrivaltime': new Date().toISOString(), traceparent: `00-${trace}-00f067aa0ba902b7-01`,
      prefer: 'reply', 'kn-namespace': 'podcount', 'content-type': 'application/json', 'user-agent': 'Go-http-client/1.1',
    });
    const { data } = await reply(res, req);
    assert.equal(data['count'], 8);
    const line = await pc.fn.waitForLog((l) => l['eventId'] === req.id);
    assert.equal(line['traceId'], trace);
    assert.equal(line['eventType'], req.type);
    assert.equal(line['status'], 200);
  });

  test('a malformed event is a 400 (not retried by a broker), never a reply', async () => {
    const res = await pc.fn.post('/', '{}', { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': 'dev.podcount.count.requested', 'content-type': 'application/json' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('ce-id'), null);
    assert.equal((await res.json() as { error: { code: string } }).error.code, 'bad_event');
  });

  test('a POST without CloudEvent headers is a plain count', async () => {
    const res = await pc.fn.post('/', '', {});
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('ce-id'), null);
    assert.equal((await res.json() as { count: number }).count, 8);
  });
});
