// A burst of identical callers is answered correctly while the API server sees at most two pod
// lists: counted by the API server itself (apiserver_request_total), not by podcount's word.
import assert from 'node:assert/strict';
import net from 'node:net';
import { before, describe, test } from 'node:test';
import { usePodcount } from '../support/fixture.ts';
import type { FunctionProcess } from '../support/function-process.ts';
import { apiRequestCount } from '../support/metrics.ts';
import { createPods } from '../support/pods.ts';

/** The next HTTP/1.1 response on a kept-alive socket (podcount always sends Content-Length). */
function response(socket: net.Socket): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let raw = '';
    const onData = (chunk: Buffer) => {
      raw += chunk.toString('utf8');
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(raw.slice(0, end))?.[1] ?? 0);
      if (raw.length < end + 4 + length) return;
      socket.off('data', onData);
      resolve({ status: Number(raw.slice(9, 12)), body: raw.slice(end + 4, end + 4 + length) });
    };
    socket.on('data', onData).once('error', reject);
  });
}

describe('coalescing under a burst', () => {
  const pc = usePodcount({ seed: (cp) => createPods(cp, 'podcount', 40) });

  before(async () => {
    assert.equal((await pc.fn.get('/')).status, 200); // warm: the burst measures coalescing, not the first handshake
  });

  /**
   * 200 callers whose requests are truly in flight together: 200 keep-alive connections are
   * opened and used once first (as queue-proxy keeps connections open to a Knative pod), then
   * every request is written in one synchronous loop, so none trails behind the test's own
   * event loop or a TCP handshake.
   */
  async function burst(f: FunctionProcess, path: string): Promise<Array<{ status: number; count: number }>> {
    const sockets = await Promise.all(Array.from({ length: 200 }, () => new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect(f.port, '127.0.0.1', () => resolve(socket));
      socket.once('error', reject);
    })));
    try {
      await Promise.all(sockets.map((s) => { const r = response(s); s.write('GET /healthz HTTP/1.1\r\nHost: podcount\r\n\r\n'); return r; }));
      const responses = sockets.map(response);
      for (const s of sockets) s.write(`GET ${path} HTTP/1.1\r\nHost: podcount\r\n\r\n`);
      return (await Promise.all(responses)).map((r) => ({ status: r.status, count: (JSON.parse(r.body) as { count: number }).count }));
    } finally {
      for (const s of sockets) s.destroy();
    }
  }

  test('200 concurrent identical requests: all correct, at most 2 LIST pods at the API server', async () => {
    const before = await apiRequestCount(pc.cp, { verb: 'LIST', resource: 'pods' });
    const answers = await burst(pc.fn, '/');
    const lists = (await apiRequestCount(pc.cp, { verb: 'LIST', resource: 'pods' })) - before;
    assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
    assert.deepEqual([...new Set(answers.map((a) => a.count))], [40]);
    assert.ok(lists >= 1 && lists <= 2, `the API server saw ${lists} pod lists`);
  });

  test('a filtered burst pages at most twice over', async () => {
    const fnPaged = await pc.startFunction({ PODCOUNT_PAGE_SIZE: '10' });
    {
      const path = '/?fieldSelector=status.phase%3DPending';
      const one = await apiRequestCount(pc.cp, { verb: 'LIST', resource: 'pods' });
      assert.equal((await fnPaged.get(path)).status, 200);
      const before = await apiRequestCount(pc.cp, { verb: 'LIST', resource: 'pods' });
      const pagesPerRead = before - one;
      const answers = await burst(fnPaged, path);
      const lists = (await apiRequestCount(pc.cp, { verb: 'LIST', resource: 'pods' })) - before;
      assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
      assert.deepEqual([...new Set(answers.map((a) => a.count))], [40]);
      assert.ok(pagesPerRead >= 4, `40 pods in pages of 10 take ${pagesPerRead} requests`);
      assert.ok(lists <= 2 * pagesPerRead, `the API server saw ${lists} pod list pages (${pagesPerRead} per read)`);
    }
  });
});
