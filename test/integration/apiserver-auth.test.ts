// The harness's kube-apiserver authenticates and authorizes like a real cluster, seen through
// client-node's own in-cluster path (KubeConfig.loadFromCluster over a mounted ServiceAccount
// folder, KUBERNETES_SERVICE_HOST/PORT) and through raw requests. The rotation and RBAC tests of
// the function rely on these facts; test/README.md lists them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { waitForAuditEvents } from '../support/audit.ts';
import { requestWithToken } from '../support/bearer-client.ts';
import { ControlPlane } from '../support/controlplane.ts';
import { setUpServiceAccount } from '../support/identity.ts';
import { inClusterEnv, mintToken, writeServiceAccountDir } from '../support/in-cluster.ts';
import { createPods } from '../support/pods.ts';
import { waitFor } from '../support/poll.ts';

describe('authentication and RBAC on the test control plane', () => {
  let cp: ControlPlane;
  const dirs: string[] = [];

  before(async () => {
    cp = await ControlPlane.start({ auditPolicy: true });
    await createPods(cp, 'one', 30);
    await createPods(cp, 'two', 20);
  });

  after(async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await cp?.stop();
  });

  /** client-node exactly as in a pod: loadFromCluster(prefix) over the mounted folder. */
  async function inClusterClient(token: string, namespace: string): Promise<CoreV1Api> {
    const root = mkdtempSync(join(tmpdir(), 'podcount-incluster-'));
    dirs.push(root);
    await writeServiceAccountDir(join(root, 'var/run/secrets/kubernetes.io/serviceaccount'), { token, caPem: cp.caPem, namespace });
    Object.assign(process.env, inClusterEnv(cp));
    const kc = new KubeConfig();
    kc.loadFromCluster(root);
    assert.equal(kc.getCurrentCluster()?.server, cp.url);
    return kc.makeApiClient(CoreV1Api);
  }

  /** A raw request with a bearer token: the server's answer, untouched by any client library. */
  function as(token: string, path: string, body?: object) {
    return requestWithToken(cp, token, path, body ? { method: 'POST', body } : {});
  }

  test('a ServiceAccount bound to a list-pods ClusterRole lists pods in all namespaces with its own token', async () => {
    const sa = await setUpServiceAccount(cp, 'lister', 'podcount', 'cluster');
    dirs.push(sa.dir);
    const core = await inClusterClient(sa.token, 'lister');
    const list = await core.listPodForAllNamespaces();
    assert.equal(list.items.length, 50);
    assert.deepEqual(new Set(list.items.map((p) => p.metadata?.namespace)), new Set(['one', 'two']));
    // The server saw that ServiceAccount, not the admin (audit log, Metadata level).
    const [event] = await waitForAuditEvents(cp, (e) => e.user.username === 'system:serviceaccount:lister:podcount' && e.verb === 'list' && e.objectRef?.resource === 'pods');
    assert.equal(event!.responseStatus?.code, 200);
    assert.match(event!.userAgent ?? '', /kubernetes-client-javascript/);
    // Its role allows list, nothing else.
    assert.equal((await as(sa.token, '/api/v1/namespaces/one/pods/pod-0')).status, 403);
  });

  test('the same ServiceAccount without the binding gets the real 403', async () => {
    const sa = await setUpServiceAccount(cp, 'unbound', 'podcount', 'none');
    dirs.push(sa.dir);
    const core = await inClusterClient(sa.token, 'unbound');
    await assert.rejects(core.listPodForAllNamespaces(), (err: unknown) => {
      assert.ok(err instanceof ApiException);
      assert.equal(err.code, 403);
      const status = JSON.parse(String(err.body)) as { kind: string; reason: string; message: string };
      assert.equal(status.kind, 'Status');
      assert.equal(status.reason, 'Forbidden');
      assert.ok(status.message.includes('cannot list resource "pods" in API group "" at the cluster scope'), status.message);
      assert.ok(status.message.includes('User "system:serviceaccount:unbound:podcount"'), status.message);
      return true;
    });
    const namespaced = await as(sa.token, '/api/v1/namespaces/unbound/pods?limit=1');
    assert.equal(namespaced.status, 403);
    assert.ok(namespaced.json.message.includes('cannot list resource "pods" in API group "" in the namespace "unbound"'), namespaced.json.message);
  });

  test('a garbage token gets the real 401 (client-node drops its body; the server sends a Status)', async () => {
    const core = await inClusterClient('garbage', 'default');
    await assert.rejects(core.listPodForAllNamespaces(), (err: unknown) => err instanceof ApiException && err.code === 401 && err.body === undefined);
    const raw = await as('garbage', '/api/v1/pods?limit=1');
    assert.equal(raw.status, 401);
    assert.deepEqual({ kind: raw.json.kind, reason: raw.json.reason, message: raw.json.message }, { kind: 'Status', reason: 'Unauthorized', message: 'Unauthorized' });
  });

  test('SelfSubjectReview and SelfSubjectAccessReview are allowed to a ServiceAccount with no bindings (system:basic-user)', async () => {
    const sa = await setUpServiceAccount(cp, 'nobody', 'podcount', 'none');
    dirs.push(sa.dir);
    const review = await as(sa.token, '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
    assert.equal(review.status, 201);
    assert.equal(review.json.status.userInfo.username, 'system:serviceaccount:nobody:podcount');
    assert.deepEqual(new Set(review.json.status.userInfo.groups), new Set(['system:serviceaccounts', 'system:serviceaccounts:nobody', 'system:authenticated']));
    const access = await as(sa.token, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'list', resource: 'pods' } } });
    assert.equal(access.status, 201);
    assert.equal(access.json.status.allowed, false);
  });

  test('a token bound to a Secret is refused (401) after the Secret is deleted, within kube-apiserver\'s 10 s token cache', async () => {
    const sa = await setUpServiceAccount(cp, 'bound', 'podcount', 'cluster');
    dirs.push(sa.dir);
    const token = await mintToken(cp, 'bound', 'podcount', { boundSecret: 'anchor' });
    const other = await mintToken(cp, 'bound', 'podcount');
    assert.equal((await as(token, '/api/v1/pods?limit=1')).status, 200);
    assert.equal((await cp.admin.request('/api/v1/namespaces/bound/secrets/anchor', { method: 'DELETE' })).status, 200);
    const deleted = Date.now();
    const status = await waitFor(async () => {
      const s = (await as(token, '/api/v1/pods?limit=1')).status;
      return s !== 200 && s;
    }, { timeoutMs: 30_000, intervalMs: 250, what: 'the token to be refused' });
    const seconds = (Date.now() - deleted) / 1000;
    assert.equal(status, 401);
    assert.ok(seconds <= 12, `refused after ${seconds} s`);
    // Only that token: the account and its other tokens are unaffected.
    assert.equal((await as(other, '/api/v1/pods?limit=1')).status, 200);
    console.log(`harness: a token bound to a deleted Secret was refused after ${seconds.toFixed(1)} s`);
  });

  test('TokenRequest refuses expirations under 10 minutes', async () => {
    await setUpServiceAccount(cp, 'short', 'podcount', 'none').then((sa) => dirs.push(sa.dir));
    await assert.rejects(mintToken(cp, 'short', 'podcount', { expirationSeconds: 599 }), /may not specify a duration less than 10 minutes/);
  });
});
