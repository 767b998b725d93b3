// The harness itself: what ControlPlane and the support helpers promise, on a real control
// plane: the admin identity (its kubeconfig with client-node and kubectl), restarts that keep
// data and tokens, the server's own request counter, server-side apply of CRDs and custom
// resources, pods in bulk (rate printed), and teardown that leaves nothing behind (stop(),
// Ctrl-C, SIGKILL).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { requestWithToken } from '../support/bearer-client.ts';
import { ControlPlane } from '../support/controlplane.ts';
import { setUpServiceAccount } from '../support/identity.ts';
import { mintToken } from '../support/in-cluster.ts';
import { applyManifests } from '../support/manifests.ts';
import { createNamespace } from '../support/namespaces.ts';
import { apiRequestCount } from '../support/metrics.ts';
import { apiTruthCount, createPods, deletePods } from '../support/pods.ts';
import { waitFor } from '../support/poll.ts';

const SUPPORT = join(import.meta.dirname, '..', 'support');

/** True while the process exists and is not a zombie (reaped late when its parent died). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The pids still alive once all are gone, or once timeoutMs has passed. */
async function waitUntilGone(pids: number[], timeoutMs = 10_000): Promise<number[]> {
  await waitFor(() => !pids.some(alive), { timeoutMs, what: 'the servers to exit' }).catch(() => undefined);
  return pids.filter(alive);
}

describe('the control-plane harness', () => {
  let cp: ControlPlane;

  before(async () => {
    cp = await ControlPlane.start();
    console.log(`harness: control plane ready in ${cp.startSeconds.toFixed(2)} s at ${cp.url}`);
  });

  after(async () => {
    await cp?.stop();
  });

  test('the admin kubeconfig works with client-node and with the built kubectl', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const names = (await core.listNamespace()).items.map((n) => n.metadata?.name);
    assert.ok(names.includes('default') && names.includes('kube-system'), String(names));
    const out = execFileSync(cp.binaries.kubectl, ['--kubeconfig', cp.kubeconfigPath, 'get', 'namespaces', '-o', 'name'], { encoding: 'utf8' });
    assert.match(out, /^namespace\/default$/m);
    const version = JSON.parse(execFileSync(cp.binaries.kubectl, ['--kubeconfig', cp.kubeconfigPath, 'version', '-o', 'json'], { encoding: 'utf8' }));
    assert.equal(version.clientVersion.gitVersion, 'v1.36.3');
    assert.equal(version.serverVersion.gitVersion, 'v1.36.3');
    // The serving certificate is for 127.0.0.1 and localhost, signed by caPem (verified; /livez is public).
    for (const host of ['127.0.0.1', 'localhost']) {
      const status = await new Promise<number | undefined>((resolve, reject) => {
        https.get(`https://${host}:${cp.port}/livez`, { ca: cp.caPem }, (res) => resolve(res.resume().statusCode)).on('error', reject);
      });
      assert.equal(status, 200, host);
    }
  });

  test('apiRequestCount reads the server\'s own counter of LIST pods', async () => {
    await createPods(cp, 'counted', 3);
    const before = await apiRequestCount(cp, { verb: 'LIST', resource: 'pods' });
    for (let i = 0; i < 3; i++) await cp.admin.request('/api/v1/pods?limit=1');
    await cp.admin.request('/api/v1/namespaces/counted/pods?limit=1');
    await cp.admin.request('/api/v1/namespaces/counted/pods/pod-0');
    assert.equal(await apiRequestCount(cp, { verb: 'list', resource: 'pods' }) - before, 4);
    assert.ok(await apiRequestCount(cp, { verb: 'GET', resource: 'pods' }) >= 1);
  });

  test('kube-apiserver restarts on the same port, data and keys: old tokens stay valid', async () => {
    await createPods(cp, 'restart', 5);
    const sa = await setUpServiceAccount(cp, 'restart', 'podcount', 'cluster');
    sa.cleanup();
    await cp.stopApiServer();
    await assert.rejects(cp.admin.request('/readyz', { timeoutMs: 2000 }), /ECONNREFUSED/);
    const started = performance.now();
    await cp.startApiServer();
    console.log(`harness: kube-apiserver restarted in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    assert.equal(await apiTruthCount(cp, { namespace: 'restart' }), 5);
    assert.equal((await requestWithToken(cp, sa.token, '/api/v1/pods?limit=1')).status, 200);
  });

  test('etcd restarts on the same data: kube-apiserver fails meanwhile, then serves the same objects', async () => {
    await createPods(cp, 'etcd-restart', 4);
    await cp.stopEtcd();
    try {
      // kube-apiserver holds a write until its own 60 s request timeout; a client gives up sooner.
      const down = await cp.admin.request('/api/v1/namespaces/etcd-restart/configmaps', { method: 'POST', body: { metadata: { name: 'x' } }, timeoutMs: 3000 })
        .then((r) => r.status, (e: Error) => e.message);
      assert.ok(typeof down === 'string' ? /timed out/.test(down) : down >= 500, `while etcd is down: ${down}`);
    } finally {
      await cp.startEtcd();
    }
    await waitFor(async () => (await cp.admin.request('/readyz')).status === 200, { timeoutMs: 30_000, intervalMs: 100, what: 'kube-apiserver to be ready again' });
    assert.equal(await apiTruthCount(cp, { namespace: 'etcd-restart' }), 4);
  });

  test('applyManifests: server-side apply of a CRD, then its custom resource; strict validation and dry runs surface the server\'s message', async () => {
    const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: widgets.example.com }
spec:
  group: example.com
  names: { kind: Widget, plural: widgets, singular: widget }
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: { type: object, properties: { size: { type: integer } } }
---
apiVersion: example.com/v1
kind: Widget
metadata: { name: w1 }
spec: { size: 3 }
`;
    await createNamespace(cp, 'widgets');
    const applied = await applyManifests(cp, crd, { namespace: 'widgets' });
    assert.deepEqual(applied.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`), ['CustomResourceDefinition//widgets.example.com', 'Widget/widgets/w1']);
    // Idempotent.
    await applyManifests(cp, crd, { namespace: 'widgets' });
    // Unknown fields fail server-side apply before strict validation runs, as a 500 from building
    // the typed patch (kube-apiserver 1.36), for built-in kinds and custom resources alike.
    await assert.rejects(
      applyManifests(cp, [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'widgets' }, colour: 'red' }]),
      /applying ConfigMap widgets\/c: 500 .*\.colour: field not declared in schema/,
    );
    await assert.rejects(
      applyManifests(cp, [{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w2', namespace: 'widgets' }, spec: { size: 1, colour: 'red' } }]),
      /applying Widget widgets\/w2: 500 .*\.spec\.colour: field not declared in schema/,
    );
    await applyManifests(cp, [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry', namespace: 'widgets' }, data: { a: 'b' } }], { dryRun: true });
    assert.equal((await cp.admin.request('/api/v1/namespaces/widgets/configmaps/dry')).status, 404);
    await assert.rejects(applyManifests(cp, [{ apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g' } }]), /does not serve Gadget in example.com\/v1/);
  });

  test('createPods at speed, apiTruthCount as the truth, deletePods by name and by label', async () => {
    const n = 2000;
    const made = await createPods(cp, 'bulk', n, { labels: { batch: 'one' } });
    console.log(`harness: createPods made ${made.created} pods in ${made.seconds.toFixed(2)} s = ${made.perSecond.toFixed(0)} pods/s`);
    await createPods(cp, 'bulk', 10, { labels: { batch: 'two' }, prefix: 'extra' });
    assert.equal(await apiTruthCount(cp, { namespace: 'bulk' }), n + 10);
    assert.equal(await apiTruthCount(cp, { labelSelector: 'batch=two' }), 10);
    // Cluster-wide with a namespace field selector: the one shape that must not be paginated.
    assert.equal(await apiTruthCount(cp, { fieldSelector: 'metadata.namespace=bulk' }), n + 10);
    await deletePods(cp, 'bulk', ['extra-0', 'extra-1', 'extra-missing']);
    assert.equal(await apiTruthCount(cp, { namespace: 'bulk', labelSelector: 'batch=two' }), 8);
    await deletePods(cp, 'bulk', { labelSelector: 'batch=one' });
    assert.equal(await apiTruthCount(cp, { namespace: 'bulk' }), 8);
  });

  test('mintToken binds to a Secret it creates, and the token authenticates as the ServiceAccount', async () => {
    await setUpServiceAccount(cp, 'minted', 'podcount', 'none').then((sa) => sa.cleanup());
    const token = await mintToken(cp, 'minted', 'podcount', { boundSecret: 'minted-anchor', expirationSeconds: 600 });
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number; 'kubernetes.io': { secret?: { name: string } } };
    assert.equal(claims.exp - claims.iat, 600, 'honest expiry (no extension)');
    assert.equal(claims['kubernetes.io'].secret?.name, 'minted-anchor');
  });

  test('stop() leaves no process and no temp folder, and is idempotent', async () => {
    const other = await ControlPlane.start();
    const pids = other.pids;
    assert.equal(pids.length, 2);
    // The pids are the servers themselves (setpriv execs them), not wrappers.
    assert.deepEqual(pids.map((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim()).sort(), ['etcd', 'kube-apiserver']);
    await other.stop();
    await other.stop();
    assert.deepEqual(pids.filter(alive), []);
    assert.equal(existsSync(other.dir), false);
  });

  describe('a process holding a control plane that dies without stop()', () => {
    /** A child Node process that starts a control plane and reports its pids and folder. */
    async function holder(): Promise<{ child: ReturnType<typeof spawn>; pids: number[]; dir: string; exited: Promise<NodeJS.Signals | number | null> }> {
      const script = `const { ControlPlane } = await import(${JSON.stringify(join(SUPPORT, 'controlplane.ts'))});
const cp = await ControlPlane.start();
console.log(JSON.stringify({ pids: cp.pids, dir: cp.dir }));
setInterval(() => {}, 60_000);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
      let out = '';
      for await (const chunk of child.stdout!) {
        out += String(chunk);
        if (out.includes('\n')) break;
      }
      const info = JSON.parse(out) as { pids: number[]; dir: string };
      assert.deepEqual(info.pids.filter(alive).length, 2);
      return { child, exited, ...info };
    }

    test('Ctrl-C (SIGINT): the servers are killed, the folder removed, and the process dies of SIGINT', async () => {
      const h = await holder();
      h.child.kill('SIGINT');
      assert.equal(await h.exited, 'SIGINT');
      assert.deepEqual(await waitUntilGone(h.pids), []);
      assert.equal(existsSync(h.dir), false);
    });

    test('SIGKILL: the kernel kills the servers (parent-death signal); only the folder is left', async () => {
      const h = await holder();
      h.child.kill('SIGKILL');
      assert.equal(await h.exited, 'SIGKILL');
      assert.deepEqual(await waitUntilGone(h.pids), []);
      rmSync(h.dir, { recursive: true, force: true });
    });
  });
});
