// The two classic walls, hit for real: a default ServiceAccount without a binding (403: the
// client-go program that listed all pods crash-looped on it), a token the server refuses (401:
// "the server has asked for the client to provide credentials"), and no cluster configuration.
// podcount answers each with the right status and an actionable hint, tells them apart on
// /diagnostics, and never crashes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ControlPlane } from '../support/controlplane.ts';
import { FunctionProcess } from '../support/function-process.ts';
import { setUpServiceAccount, type PodcountIdentity } from '../support/identity.ts';
import { inClusterEnv, writeServiceAccountDir } from '../support/in-cluster.ts';
import { createPods } from '../support/pods.ts';

interface ErrorBody { error: { code: string; message: string; hint: string } }

describe('identity, RBAC and configuration failures', () => {
  let cp: ControlPlane;
  const cleanups: Array<() => unknown> = [];

  before(async () => {
    cp = await ControlPlane.start();
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await cp?.stop();
  });

  async function start(env: Record<string, string>, extra: Record<string, string> = {}) {
    const fn = await FunctionProcess.start({ env: { ...env, ...extra } });
    cleanups.push(() => fn.stop());
    return fn;
  }

  async function diagnostics(fn: FunctionProcess) {
    const res = await fn.get('/diagnostics');
    assert.equal(res.status, 200);
    return await res.json() as {
      ok: boolean; config: { source: string; namespace: string | null };
      identity: { username: string | null; from: string | null };
      token: { expiresAt?: string; expiresInSeconds?: number; serviceAccount?: { name: string } } | null;
      permissions: { listPodsClusterWide: { allowed: boolean } | null; listPodsInOwnNamespace: { allowed: boolean; namespace: string } | null };
      problems: Array<{ code: string; hint: string }>;
      apiServer: { reachable: boolean; version: string | null };
    };
  }

  test('a default account without a binding (where the client-go program crash-looped) gets 502 forbidden with the exact fix', async () => {
    const sa: PodcountIdentity = await setUpServiceAccount(cp, 'test-in-cluster', 'default', 'none');
    cleanups.push(() => sa.cleanup());
    const fn = await start(sa.env);
    const res = await fn.get('/');
    const body = await res.json() as ErrorBody;
    assert.equal(res.status, 502);
    assert.equal(body.error.code, 'forbidden');
    assert.match(body.error.message, /User "system:serviceaccount:test-in-cluster:default" cannot list resource "pods" in API group "" at the cluster scope/);
    assert.match(body.error.hint, /kubectl create clusterrolebinding podcount-pod-lister --clusterrole=podcount-pod-lister --serviceaccount=test-in-cluster:default/);
    // The warm-up says it once at start, before anyone calls.
    const warn = await fn.waitForLog((l) => l.level === 'warn' && /may not list pods at the cluster scope/.test(l.msg));
    assert.match(warn.msg, /serviceaccount=test-in-cluster:default/);
    assert.equal((await fn.get('/healthz')).status, 200, 'still serving');

    const d = await diagnostics(fn);
    assert.equal(d.ok, false);
    assert.equal(d.identity.username, 'system:serviceaccount:test-in-cluster:default');
    assert.equal(d.identity.from, 'SelfSubjectReview');
    assert.equal(d.permissions.listPodsClusterWide?.allowed, false);
    assert.equal(d.permissions.listPodsInOwnNamespace?.allowed, false);
    assert.deepEqual(d.problems.map((p) => p.code), ['forbidden']);
    assert.equal(d.token?.serviceAccount?.name, 'default');
    assert.ok((d.token?.expiresInSeconds ?? 0) > 0);
  });

  test('namespace scope with a Role counts its own namespace; diagnostics tells it from cluster scope', async () => {
    const sa = await setUpServiceAccount(cp, 'team-a', 'podcount', 'namespace');
    cleanups.push(() => sa.cleanup());
    await createPods(cp, 'team-a', 3);
    const scoped = await start(sa.env, { PODCOUNT_SCOPE: 'namespace' });
    const res = await scoped.get('/');
    const body = await res.json() as { count: number; namespace: string; scope: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual([body.count, body.namespace, body.scope], [3, 'team-a', 'namespace']);
    assert.equal((await scoped.get('/?namespace=kube-system')).status, 400, 'other namespaces are refused up front');
    // The start-up access check asks about its own namespace, where the Role grants it, not the cluster.
    await scoped.waitForLog((l) => l.msg === 'ready: may list pods in namespace team-a');
    const d = await diagnostics(scoped);
    assert.equal(d.ok, true, JSON.stringify(d.problems));
    assert.equal(d.permissions.listPodsInOwnNamespace?.allowed, true);
    assert.equal(d.permissions.listPodsClusterWide?.allowed, false);

    // The same account at cluster scope: forbidden at the cluster scope, and diagnostics says the scope is wrong.
    const clusterScoped = await start(sa.env);
    const forbidden = await clusterScoped.get('/');
    assert.equal(forbidden.status, 502);
    assert.equal(((await forbidden.json()) as ErrorBody).error.code, 'forbidden');
    const d2 = await diagnostics(clusterScoped);
    assert.deepEqual(d2.problems.map((p) => p.code).sort(), ['forbidden', 'scope_mismatch']);
    assert.match(d2.problems.find((p) => p.code === 'scope_mismatch')!.hint, /PODCOUNT_SCOPE=namespace/);
    // Its own namespace is allowed at cluster scope too, when asked by name.
    assert.equal((await clusterScoped.get('/?namespace=team-a')).status, 200);
  });

  test('a token the server refuses ("the server has asked for the client to provide credentials") is 502 unauthenticated naming the token path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podcount-garbage-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    await writeServiceAccountDir(dir, { token: 'garbage.token.value', caPem: cp.caPem, namespace: 'default' });
    const fn = await start({ ...inClusterEnv(cp), PODCOUNT_SERVICEACCOUNT_DIR: dir });
    const res = await fn.get('/');
    const body = await res.json() as ErrorBody;
    assert.equal(res.status, 502);
    assert.equal(body.error.code, 'unauthenticated');
    assert.ok(body.error.hint.includes(join(dir, 'token')));
    const d = await diagnostics(fn);
    assert.equal(d.ok, false);
    assert.ok(d.problems.some((p) => p.code === 'unauthenticated'));
    assert.equal(fn.stdout.includes('garbage.token.value'), false, 'the token never reaches the log');
  });

  test('no cluster configuration: 503 no_cluster_config, /healthz 200, diagnostics explains', async () => {
    // Namespace scope too: without a connection there is no namespace to scope to, and that is no crash.
    const scoped = await start({ PODCOUNT_SCOPE: 'namespace' });
    assert.equal((await scoped.get('/')).status, 503);
    const fn = await start({});
    const res = await fn.get('/');
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as ErrorBody).error.code, 'no_cluster_config');
    assert.equal((await fn.get('/healthz')).status, 200);
    const d = await diagnostics(fn);
    assert.equal(d.config.source, 'none');
    assert.deepEqual(d.problems.map((p) => p.code), ['no_cluster_config']);
  });

  test('service variables without a mounted token (automountServiceAccountToken: false) say so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podcount-empty-sa-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const fn = await start({ ...inClusterEnv(cp), PODCOUNT_SERVICEACCOUNT_DIR: dir });
    assert.equal((await fn.get('/')).status, 503);
    const d = await diagnostics(fn);
    assert.ok(d.config.source === 'none');
    assert.ok((d as unknown as { config: { notes: string[] } }).config.notes.some((n) => /automountServiceAccountToken/.test(n)));
  });

  test('a kubeconfig outside the cluster works through client-node', async () => {
    const fn = await start({ KUBECONFIG: cp.kubeconfigPath });
    const res = await fn.get('/');
    assert.equal(res.status, 200);
    const d = await diagnostics(fn);
    assert.equal(d.config.source, 'kubeconfig');
    assert.equal(d.apiServer.reachable, true);
  });

  test('an invalid setting stops the start with one line naming it', async () => {
    const fn = await FunctionProcess.start({ env: { PODCOUNT_SCOPE: 'galaxy' }, waitReady: false });
    const exit = await fn.exited;
    assert.equal(exit.code, 1);
    assert.equal(fn.stderr.trim(), 'podcount: invalid configuration: PODCOUNT_SCOPE="galaxy" is not one of cluster, namespace');
  });
});
