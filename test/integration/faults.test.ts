// Faults on the real control plane: API server and etcd stopped and restarted, the token rotated
// while the old one is revoked, RBAC revoked and restored, SIGTERM with requests in flight.
// The function is never restarted: it must recover by itself.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdminClient } from '../support/admin-client.ts';
import { countPods, createPods } from '../support/cluster.ts';
import { ControlPlane } from '../support/controlplane.ts';
import { FunctionProcess } from '../support/function-process.ts';
import { usePodcount } from '../support/fixture.ts';
import { grantPodList, revokePodList } from '../support/identity.ts';

/** Polls until fn() resolves truthy; returns the last value. */
async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Status of a pod list made with a given token, as any client would see it. */
async function fetchWithToken(cp: ControlPlane, token: string): Promise<number> {
  const client = new AdminClient(cp.url, cp.caPem, token, 1);
  try {
    return (await client.request('/api/v1/pods?limit=1')).status;
  } finally {
    client.close();
  }
}

describe('faults', () => {
  const pc = usePodcount({
    boundSecret: 'podcount-token-1',
    env: { PODCOUNT_API_TIMEOUT_MS: '3000' },
    seed: (cp) => createPods(cp, 'podcount', 12, { labels: { app: 'web' } }),
  });

  const countOf = async () => {
    const res = await pc.fn.get('/');
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() as { count?: number; error?: { code: string; hint: string } } };
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
    const up = await eventually(countOf, (r) => r.status === 200);
    assert.equal(up.body.count, 12);
  });

  test('etcd stopped: 503 with Retry-After; started again: counts again', async () => {
    await pc.cp.stopEtcd();
    const down = await eventually(countOf, (r) => r.status !== 200, 15_000);
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.match(down.retryAfter ?? '', /^\d+$/);
    await pc.cp.startEtcd();
    const up = await eventually(countOf, (r) => r.status === 200, 60_000);
    assert.equal(up.body.count, 12);
  });

  test('token rotated while the old one is revoked: no request is lost', async () => {
    // The function has read the old token; the kubelet now writes a new one and the old one is revoked.
    assert.equal((await countOf()).status, 200);
    const oldToken = pc.sa.token;
    await pc.sa.rotate({ boundSecret: 'podcount-token-2' });
    const del = await pc.cp.adminFetch('/api/v1/namespaces/podcount/secrets/podcount-token-1', { method: 'DELETE' });
    assert.equal(del.status, 200, del.text);
    // Requests keep flowing while kube-apiserver's 10 s authentication cache lets go of the old token.
    const results: number[] = [];
    const deadline = Date.now() + 30_000;
    let revoked = false;
    while (!revoked && Date.now() < deadline) {
      results.push((await countOf()).status);
      revoked = (await fetchWithToken(pc.cp, oldToken)) === 401;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(revoked, 'the old token was revoked');
    // The function still holds the old token (it re-reads at most every 60 s): this request meets a
    // 401, re-reads the file and succeeds with the new token.
    results.push((await countOf()).status);
    assert.deepEqual([...new Set(results)], [200], `statuses seen: ${results.join(',')}`);
    await pc.fn.waitForLog((l) => l['credentialsReloaded'] === true);
  });

  test('RBAC revoked: 502 forbidden; restored: 200, without a restart', async () => {
    await revokePodList(pc.cp, 'podcount', 'podcount', 'cluster');
    const denied = await eventually(countOf, (r) => r.status === 502);
    assert.equal(denied.body.error?.code, 'forbidden');
    assert.match(denied.body.error?.hint ?? '', /--serviceaccount=podcount:podcount/);
    await grantPodList(pc.cp, 'podcount', 'podcount', 'cluster');
    const allowed = await eventually(countOf, (r) => r.status === 200);
    assert.equal(allowed.body.count, 12);
  });

  test('SIGTERM with requests in flight: they complete, then the process exits 0', async () => {
    await createPods(pc.cp, 'podcount', 150, { labels: { app: 'slow' }, prefix: 'slow' });
    const truth = await countPods(pc.cp, { labelSelector: 'app=slow' });
    // Page size 1 makes a filtered count take ~150 sequential API requests: long enough to be caught mid-flight.
    const slow = await FunctionProcess.start({ env: { ...pc.sa.env, PODCOUNT_PAGE_SIZE: '1' } });
    const inFlight = ['app=slow', 'app in (slow)', 'app=slow,app!=none'].map((sel) =>
      slow.get(`/?labelSelector=${encodeURIComponent(sel)}`).then(async (r) => ({ status: r.status, body: await r.json() as { count: number } })));
    await new Promise((r) => setTimeout(r, 150));
    slow.child.kill('SIGTERM');
    const answers = await Promise.all(inFlight);
    for (const a of answers) {
      assert.equal(a.status, 200);
      assert.equal(a.body.count, truth);
    }
    const exit = await slow.exited;
    assert.equal(exit.code, 0);
    await assert.rejects(fetch(`${slow.url}/healthz`), 'no new connections after the drain');
    const drain = slow.logs.find((l) => l.msg.startsWith('draining'));
    assert.ok(Number(drain?.['inFlight']) >= 1, 'the signal arrived while requests were in flight');
  });
});
