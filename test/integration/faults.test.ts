// Faults on the real control plane: API server and etcd stopped and restarted, the token rotated
// while the old one is revoked, RBAC revoked and restored, SIGTERM with requests in flight.
// The function is never restarted: it must recover by itself.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { requestWithToken } from '../support/bearer-client.ts';
import { usePodcount } from '../support/fixture.ts';
import { FunctionProcess } from '../support/function-process.ts';
import { grantPodList, revokePodList } from '../support/identity.ts';
import { apiTruthCount, createPods } from '../support/pods.ts';
import { waitFor } from '../support/poll.ts';

describe('faults', () => {
  const pc = usePodcount({
    boundSecret: 'podcount-token-1',
    env: { PODCOUNT_API_TIMEOUT_MS: '3000' },
    seed: (cp) => createPods(cp, 'podcount', 12, { labels: { app: 'web' } }),
  });

  type Answer = { status: number; retryAfter: string | null; body: { count?: number; error?: { code: string; hint: string } } };
  const countOf = async (): Promise<Answer> => {
    const res = await pc.fn.get('/');
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() as Answer['body'] };
  };
  /** The first answer that satisfies `ok`, asked every 200 ms. */
  const answerWhen = (ok: (a: Answer) => boolean, timeoutMs = 30_000): Promise<Answer> => {
    let last: Answer | undefined;
    return waitFor(async () => {
      last = await countOf();
      return ok(last) && last;
    }, { timeoutMs, intervalMs: 200, what: () => `the expected answer (last: ${JSON.stringify(last)})` });
  };

  test('API server stopped: 503 cluster_unavailable with Retry-After; restarted: correct counts again', async () => {
    assert.equal((await countOf()).body.count, 12);
    await pc.cp.stopApiServer();
    const down = await countOf();
    assert.equal(down.status, 503);
    assert.equal(down.body.error?.code, 'cluster_unavailable');
    assert.match(down.retryAfter ?? '', /^\d+$/);
    assert.equal((await pc.fn.get('/healthz')).status, 200, 'readiness does not depend on the API server');
    await pc.cp.startApiServer();
    const up = await answerWhen((r) => r.status === 200);
    assert.equal(up.body.count, 12);
  });

  test('etcd stopped: 503 with Retry-After; started again: counts again', async () => {
    await pc.cp.stopEtcd();
    const down = await answerWhen((r) => r.status !== 200, 15_000);
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.match(down.retryAfter ?? '', /^\d+$/);
    await pc.cp.startEtcd();
    const up = await answerWhen((r) => r.status === 200, 60_000);
    assert.equal(up.body.count, 12);
  });

  test('token rotated while the old one is revoked: no request is lost', async () => {
    // The function has read the old token; the kubelet now writes a new one and the old one is revoked.
    assert.equal((await countOf()).status, 200);
    const oldToken = pc.sa.token;
    await pc.sa.rotate({ boundSecret: 'podcount-token-2' });
    const del = await pc.cp.admin.request('/api/v1/namespaces/podcount/secrets/podcount-token-1', { method: 'DELETE' });
    assert.equal(del.status, 200, del.text);
    // Requests keep flowing while kube-apiserver's 10 s authentication cache lets go of the old token.
    const results: number[] = [];
    await waitFor(async () => {
      results.push((await countOf()).status);
      return (await requestWithToken(pc.cp, oldToken, '/api/v1/pods?limit=1')).status === 401;
    }, { timeoutMs: 30_000, intervalMs: 200, what: 'the old token to be revoked' });
    // The function still holds the old token (it re-reads at most every 60 s): this request meets a
    // 401, re-reads the file and succeeds with the new token.
    results.push((await countOf()).status);
    assert.deepEqual([...new Set(results)], [200], `statuses seen: ${results.join(',')}`);
    await pc.fn.waitForLog((l) => l['credentialsReloaded'] === true);
  });

  test('RBAC revoked: 502 forbidden; restored: 200, without a restart', async () => {
    await revokePodList(pc.cp, 'podcount', 'podcount', 'cluster');
    const denied = await answerWhen((r) => r.status === 502);
    assert.equal(denied.body.error?.code, 'forbidden');
    assert.match(denied.body.error?.hint ?? '', /--serviceaccount=podcount:podcount/);
    await grantPodList(pc.cp, 'podcount', 'podcount', 'cluster');
    const allowed = await answerWhen((r) => r.status === 200);
    assert.equal(allowed.body.count, 12);
  });

  test('SIGTERM with requests in flight: they complete, then the process exits 0', async () => {
    await createPods(pc.cp, 'podcount', 150, { labels: { app: 'slow' }, prefix: 'slow' });
    const truth = await apiTruthCount(pc.cp, { labelSelector: 'app=slow' });
    // Page size 1 makes each filtered count ~150 sequential API requests, all made during the drain.
    const slow = await FunctionProcess.start({ env: { ...pc.sa.env, PODCOUNT_PAGE_SIZE: '1' } });
    const agent = new Agent({ keepAlive: true });
    try {
      // Held in flight by their unsent bodies, so the signal finds them there (no race with a sleep).
      const held = ['app=slow', 'app in (slow)', 'app=slow,app!=none'].map((sel) => heldRequest(slow.port, `/?labelSelector=${encodeURIComponent(sel)}`, agent));
      await Promise.all(held.map((h) => h.received));
      slow.child.kill('SIGTERM');
      const draining = await slow.waitForLog((l) => l.msg.startsWith('draining'));
      assert.equal(draining['inFlight'], 3, 'the signal arrived while the three requests were in flight');
      for (const h of held) h.finish();
      for (const a of await Promise.all(held.map((h) => h.answer))) {
        assert.equal(a.status, 200, a.text);
        assert.equal((JSON.parse(a.text) as { count: number }).count, truth);
      }
      const exit = await slow.exited;
      assert.equal(exit.code, 0);
      await assert.rejects(fetch(`${slow.url}/healthz`), 'no new connections after the drain');
    } finally {
      agent.destroy();
      await slow.stop('SIGKILL');
    }
  });
  test('a drain ends once the last in-flight answer is sent, not when the drain timeout fires', async () => {
    // The longest drain timeout there is (10 min): exiting while this test still waits proves the drain did not wait for it.
    const f = await FunctionProcess.start({ env: { ...pc.sa.env, PODCOUNT_DRAIN_TIMEOUT_MS: '600000' } });
    const agent = new Agent({ keepAlive: true });
    try {
      // A kept-alive connection that has served a request and is idle when the signal comes...
      assert.equal((await fetch(`${f.url}/healthz`)).status, 200);
      // ...and a count whose request body is still being sent: in flight until the test finishes it.
      const { received, finish, answer } = heldRequest(f.port, '/?labelSelector=app%3Dweb', agent);
      await received;
      f.child.kill('SIGTERM');
      const draining = await f.waitForLog((l) => l.msg.startsWith('draining'));
      assert.equal(draining['signal'], 'SIGTERM');
      assert.equal(draining['inFlight'], 1, 'the signal came while the count was in flight');
      assert.equal(f.child.exitCode, null, 'it waits for the answer in flight');
      finish();
      const a = await answer;
      assert.equal(a.status, 200, a.text);
      assert.equal((JSON.parse(a.text) as { count: number }).count, 12);
      const exit = await waitFor(() => f.child.exitCode !== null && f.exited, { timeoutMs: 30_000, intervalMs: 50, what: () => `podcount to exit after its last answer; it logged:\n${f.stdout}` });
      assert.equal((await exit).code, 0);
      const said = f.logs.map((l) => l.msg);
      assert.ok(said.indexOf('drained; exiting') > said.indexOf(draining.msg), 'it drained');
      assert.equal(said.some((m) => m.startsWith('drain timeout')), false, 'the drain did not end by its timeout');
    } finally {
      agent.destroy();
      await f.stop('SIGKILL');
    }
  });
});


// The process itself (main.ts), on a podcount with no cluster to talk to: signals, stray
// rejections, and an exit that nothing else in the process can hold up.
describe('the podcount process', () => {
  // Loaded with --import before podcount, as an APM agent would be: a timer that keeps the event
  // loop alive, and a stray promise rejection on SIGUSR2.
  const preload = join(mkdtempSync(join(tmpdir(), 'podcount-preload-')), 'agent.mjs');
  writeFileSync(preload, "setInterval(() => {}, 60_000);\nprocess.on('SIGUSR2', () => { Promise.reject(new Error('a stray rejection from a preloaded agent')); });\n");
  after(() => rmSync(join(preload, '..'), { recursive: true, force: true }));
  const withAgent = { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` };

  test('Ctrl-C (SIGINT) drains like SIGTERM and exits 0', async () => {
    const f = await FunctionProcess.start();
    try {
      f.child.kill('SIGINT');
      const draining = await f.waitForLog((l) => l.msg.startsWith('draining'));
      assert.equal(draining['signal'], 'SIGINT');
      assert.deepEqual(await f.exited, { code: 0, signal: null });
    } finally {
      await f.stop('SIGKILL');
    }
  });

  test('after its drain the process exits 0 even when something else keeps the event loop alive', async () => {
    const f = await FunctionProcess.start({ env: withAgent });
    try {
      f.child.kill('SIGTERM');
      await f.waitForLog((l) => l.msg === 'drained; exiting');
      const exit = await waitFor(() => f.child.exitCode !== null && f.exited, { timeoutMs: 30_000, intervalMs: 50, what: () => `podcount to exit after its drain; it logged:\n${f.stdout}` });
      assert.deepEqual(await exit, { code: 0, signal: null });
    } finally {
      await f.stop('SIGKILL');
    }
  });

  test('a stray promise rejection is logged with its error, and the process keeps answering', async () => {
    const f = await FunctionProcess.start({ env: withAgent });
    try {
      f.child.kill('SIGUSR2');
      const line = await f.waitForLog((l) => l.msg === 'unhandled rejection');
      assert.equal(line.level, 'error');
      assert.equal((line['err'] as { message?: string } | undefined)?.message, 'a stray rejection from a preloaded agent');
      assert.equal((await f.get('/healthz')).status, 200);
      assert.equal(f.child.exitCode, null);
    } finally {
      await f.stop('SIGKILL');
    }
  });
});

/**
 * A POST count whose body is held back: with `Expect: 100-continue` the server says when it has
 * handed the request to podcount (`received`), and the request stays in flight until `finish()`.
 */
function heldRequest(port: number, path: string, agent: Agent): { received: Promise<void>; finish: () => void; answer: Promise<{ status: number; text: string }> } {
  const body = '{}';
  let received!: () => void;
  const receivedP = new Promise<void>((resolve) => { received = resolve; });
  let req!: ReturnType<typeof request>;
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req = request({ host: '127.0.0.1', port, method: 'POST', path, agent,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length), expect: '100-continue' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.on('continue', () => received());
  });
  return { received: receivedP, finish: () => req.end(body), answer };
}
