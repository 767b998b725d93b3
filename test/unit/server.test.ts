// podcount's own server in-process: built without listening, warmed up once it listens, and
// drained on request: requests in flight finish, new connections are refused, the API connection
// is closed, and a request that never ends cannot hold the drain past its timeout.
import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import type { CountResult } from '../../function/count.ts';
import { createHandler } from '../../function/handler.ts';
import { createServer } from '../../function/server.ts';
import { COUNTED, stubApp, withServer } from './stubs.ts';

/** A count the test finishes, with a promise that resolves once podcount has asked for it. */
function heldCount() {
  let finish!: (r: CountResult) => void;
  let asked!: () => void;
  const started = new Promise<void>((resolve) => { asked = resolve; });
  return {
    started,
    finish: () => finish(COUNTED),
    count: () => {
      asked();
      return new Promise<CountResult>((resolve) => { finish = resolve; });
    },
  };
}

test('the server is built not listening; once listening it says where and warms up once', async () => {
  const app = stubApp();
  const s = createServer(app, createHandler(app));
  assert.equal(s.server.listening, false);
  assert.equal(app.calls.warmUp, 0);
  await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
  try {
    const listening = app.lines.find((l) => l.msg === 'listening');
    assert.equal(listening?.['port'], (s.server.address() as { port: number }).port);
    assert.deepEqual([listening?.['scope'], listening?.['auth'], listening?.['source']], ['cluster', 'none', 'none'], 'no API client: source none');
    const res = await fetch(`http://127.0.0.1:${(s.server.address() as { port: number }).port}/healthz`);
    assert.equal(res.headers.get('connection'), 'keep-alive', 'connections are kept alive until a drain');
    await res.body?.cancel();
    assert.equal(app.calls.warmUp, 1);
    // Seconds from the process's start, read after listening: no later than now.
    const ready = app.metrics.startToReadySeconds;
    assert.ok(ready !== undefined && ready > 0 && ready <= performance.now() / 1000, `start to ready in seconds: ${ready}`);
  } finally {
    await new Promise((resolve) => s.server.close(resolve));
  }
});

test('drain: the request in flight completes, no new connection is taken, the API connection is closed', async () => {
  const held = heldCount();
  const app = stubApp({ count: held.count });
  await withServer(app, async (url, s) => {
    const inFlight = fetch(`${url}/`);
    await held.started;
    assert.equal(s.inFlight, 1);
    const drained = s.drain('SIGTERM');
    assert.equal(s.drain('SIGTERM'), drained, 'a second signal joins the same drain');
    await assert.rejects(fetch(`${url}/healthz`), 'no new connections');
    held.finish();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal((await res.json() as { count: number }).count, 32);
    // Resolved only once the kept-alive connection of that request was closed too.
    assert.equal(await drained, 'drained');
  });
  assert.equal(app.calls.close, 1);
  const draining = app.lines.find((l) => l.msg.startsWith('draining'));
  assert.deepEqual([draining?.['signal'], draining?.['inFlight']], ['SIGTERM', 1]);
  assert.ok(app.lines.some((l) => l.msg === 'drained; exiting'));
});

test('drain gives up after PODCOUNT_DRAIN_TIMEOUT_MS when a request never ends', async () => {
  const held = heldCount();
  const app = stubApp({ env: { PODCOUNT_DRAIN_TIMEOUT_MS: '100' }, count: held.count });
  await withServer(app, async (url, s) => {
    const stuck = fetch(`${url}/`).catch(() => undefined);
    await held.started;
    const started = Date.now();
    assert.equal(await s.drain('SIGTERM'), 'timed out');
    assert.ok(Date.now() - started >= 90);
    assert.equal(app.calls.close, 0, 'the request still holds the connection');
    s.server.closeAllConnections();
    await stuck;
  });
  const warn = app.lines.find((l) => l.level === 'warn');
  assert.deepEqual([warn?.msg, warn?.['inFlight']], ['drain timeout reached; exiting with requests still open', 1]);
});

/** A GET on `agent` (kept alive: the client never closes the connection itself); resolves with the status once the body is read. */
function getOn(agent: Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0))).on('error', reject);
  });
}

test('a drain ends once the last answer is sent: podcount closes kept-alive connections itself, idle or just answered', { timeout: 30_000 }, async () => {
  const held = heldCount();
  // A drain timeout far beyond this test's own: only the drain completing can end it.
  const app = stubApp({ env: { PODCOUNT_DRAIN_TIMEOUT_MS: '600000' }, count: held.count });
  const idle = new Agent({ keepAlive: true });
  const busy = new Agent({ keepAlive: true });
  try {
    await withServer(app, async (url, s) => {
      // No keep-alive timeout: a connection left open by podcount would stay open, and the drain with it.
      s.server.keepAliveTimeout = 0;
      s.server.unref(); // should the drain hang, the test fails at its timeout instead of holding the process
      assert.equal(await getOn(idle, `${url}/healthz`), 200);
      const inFlight = getOn(busy, `${url}/`);
      await held.started;
      const drained = s.drain('SIGTERM');
      held.finish();
      assert.equal(await inFlight, 200);
      assert.equal(await drained, 'drained');
    });
  } finally {
    idle.destroy();
    busy.destroy();
  }
  assert.equal(app.lines.some((l) => l.msg.startsWith('drain timeout')), false);
});

/** A raw connection to `url`, and everything it has received so far; `ended` resolves when podcount closes it. */
function rawConnection(url: string) {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  let received = '';
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('data', (d) => { received += String(d); });
  socket.on('error', () => undefined);
  /** Resolves once `n` answers have come in full (head, and a body of its content-length); rejects if the connection closes first. */
  const answers = (n: number) => new Promise<string[]>((resolve, reject) => {
    const complete = (p: string) => {
      const [head, body] = p.split('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(head ?? '')?.[1];
      return body !== undefined && length !== undefined && Buffer.byteLength(body) >= Number(length);
    };
    const check = () => {
      const parts = received.split(/(?=HTTP\/1\.1 )/).filter(complete);
      if (parts.length >= n) { socket.off('data', check); resolve(parts); }
    };
    socket.on('data', check);
    socket.once('close', () => reject(new Error(`the connection closed after ${JSON.stringify(received)}`)));
    check();
  });
  return { socket, ended, answers };
}

const until = async (condition: () => boolean) => {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
};

test('outside a drain, a kept-alive connection stays open for the caller\'s next request', { timeout: 30_000 }, async () => {
  const app = stubApp();
  await withServer(app, async (url, s) => {
    s.server.keepAliveTimeout = 0; // only podcount closing the connection could end it
    const c = rawConnection(url);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: podcount\r\n\r\n');
    await c.answers(1);
    await until(() => s.inFlight === 0);
    c.socket.write('GET / HTTP/1.1\r\nHost: podcount\r\n\r\n');
    const [, second] = await c.answers(2);
    assert.match(second!, /^HTTP\/1\.1 200 /);
    assert.match(second!, /"count":32/);
    c.socket.destroy();
  });
});

test('a request that arrives during a drain on a connection still busy is answered with Connection: close', { timeout: 30_000 }, async () => {
  const held = heldCount();
  const app = stubApp({ env: { PODCOUNT_DRAIN_TIMEOUT_MS: '600000' }, count: held.count });
  await withServer(app, async (url, s) => {
    const c = rawConnection(url);
    c.socket.write('GET / HTTP/1.1\r\nHost: podcount\r\n\r\n');
    await held.started;
    const drained = s.drain('SIGTERM');
    // Pipelined behind the count in flight: read and answered during the drain.
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: podcount\r\n\r\n');
    await until(() => s.inFlight === 2);
    held.finish();
    const [first, second] = await c.answers(2);
    assert.match(first!, /\r\nConnection: keep-alive\r\n/i, 'answered as it was taken, before the drain');
    assert.match(second!, /\r\nconnection: close\r\n/i, 'the client is told not to reuse the connection');
    assert.match(second!, /\{"status":"ok"\}\n$/);
    await c.ended;
    assert.equal(await drained, 'drained');
  });
});

test('during a drain, a connection whose answer was sent stays open while other answers are in flight: a request sent on it is still answered', { timeout: 30_000 }, async () => {
  const held = heldCount();
  const app = stubApp({ env: { PODCOUNT_DRAIN_TIMEOUT_MS: '600000' }, count: (q) => (q.namespace === 'held' ? held.count() : Promise.resolve(COUNTED)) });
  await withServer(app, async (url, s) => {
    const slow = rawConnection(url);
    slow.socket.write('GET /?namespace=held HTTP/1.1\r\nHost: podcount\r\n\r\n');
    await held.started;
    // In flight too: its body is not sent yet.
    const kept = rawConnection(url);
    kept.socket.write('POST / HTTP/1.1\r\nHost: podcount\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n');
    await until(() => s.inFlight === 2);
    const drained = s.drain('SIGTERM');
    kept.socket.write('{}');
    const [first] = await kept.answers(1);
    assert.match(first!, /^HTTP\/1\.1 200 [^]*\r\nConnection: keep-alive\r\n/i);
    // The slow count is still in flight: the kept-alive connection is not closed under the caller.
    kept.socket.write('GET /healthz HTTP/1.1\r\nHost: podcount\r\n\r\n');
    const [, second] = await kept.answers(2);
    assert.match(second!, /^HTTP\/1\.1 200 [^]*\r\nconnection: close\r\n/i);
    held.finish();
    const [last] = await slow.answers(1);
    assert.match(last!, /^HTTP\/1\.1 200 /);
    assert.equal(await drained, 'drained');
  });
});
