// knative/components/caller-auth and the callers it serves, proven on a real API server: the
// public overlay checks callers and hides /diagnostics; every token podcount's callers send is
// for an audience podcount accepts; Knative accepts the Triggers with Eventing's OIDC on; the
// reviews grant is exactly `create` on tokenreviews and subjectaccessreviews (what
// system:auth-delegator grants); the shipped callers may list pods and nothing else, and their
// podcount tokens are useless against the API server; and the CronJob's own command, a Broker
// delivery with the Trigger's OIDC token and one without, meet podcount as the overlay runs it.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../function/config.ts';
import { validateKnative } from '../knative/validator.ts';
import { requestWithToken } from '../support/bearer-client.ts';
import { ControlPlane } from '../support/controlplane.ts';
import { FunctionProcess } from '../support/function-process.ts';
import { inClusterEnv, mintToken, writeServiceAccountDir } from '../support/in-cluster.ts';
import { applyManifests, type KubeObject, parseManifests } from '../support/manifests.ts';
import { createNamespace, createServiceAccount } from '../support/namespaces.ts';
import { createPods } from '../support/pods.ts';
import { waitFor } from '../support/poll.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const RENDERINGS = ['knative', 'knative/overlays/public'] as const;
type Rendering = (typeof RENDERINGS)[number];
const PODCOUNT = 'system:serviceaccount:podcount:podcount';

interface Env { name: string; value?: string }
interface Volume { name: string; projected?: { sources: Array<{ serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string } }> } }
interface PodSpec { serviceAccountName?: string; automountServiceAccountToken?: boolean; containers: Array<{ env?: Env[]; args?: string[]; volumeMounts?: Array<{ name: string; mountPath: string }> }>; volumes?: Volume[] }
type KnService = KubeObject & { spec: { template: { spec: PodSpec } } };
type CronJob = KubeObject & { spec: { jobTemplate: { spec: { activeDeadlineSeconds: number; template: { spec: PodSpec } } } } };
type Trigger = KubeObject & { spec: { subscriber: { audience?: string } } };
type Binding = KubeObject & { roleRef: { kind: string; name: string }; subjects: Array<{ kind: string; name: string; namespace?: string }> };

/**
 * The ServiceAccount Knative Eventing creates for a Trigger when OIDC is on
 * (knative.dev/eventing pkg/auth GetOIDCServiceAccountNameForResource: kmeta.ChildName(name,
 * "-oidc-<group>-<kind>"), lower-cased). ChildName hashes names over 63 characters; podcount's are shorter.
 */
function triggerIdentity(trigger: string): string {
  const name = `${trigger}-oidc-eventing.knative.dev-trigger`.toLowerCase();
  assert.ok(name.length <= 63, `${name}: Eventing would shorten it with a hash`);
  return name;
}

describe('caller-auth manifests on a real API server', () => {
  let cp: ControlPlane;
  const rendered = {} as Record<Rendering, KubeObject[]>;
  const one = <T extends KubeObject>(r: Rendering, kind: string, name?: string): T => {
    const found = rendered[r].filter((o) => o.kind === kind && (!name || o.metadata.name === name));
    assert.equal(found.length, 1, `${r}: one ${kind} ${name ?? ''}`);
    return found[0] as T;
  };
  const envOf = (r: Rendering) => Object.fromEntries((one<KnService>(r, 'Service', 'podcount').spec.template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
  const cronSpec = (r: Rendering) => one<CronJob>(r, 'CronJob').spec.jobTemplate.spec.template.spec;
  const projected = (r: Rendering) => cronSpec(r).volumes?.flatMap((v) => v.projected?.sources ?? []).find((s) => s.serviceAccountToken)?.serviceAccountToken;
  const triggers = (r: Rendering) => rendered[r].filter((o): o is Trigger => o.kind === 'Trigger');
  const cleanups: Array<() => unknown> = [];

  before(async () => {
    cp = await ControlPlane.start();
    for (const r of RENDERINGS) rendered[r] = parseManifests(execFileSync(cp.binaries.kubectl, ['kustomize', join(ROOT, r)], { encoding: 'utf8' }));
    // The identities as a cluster would hold them: the RBAC and ServiceAccounts of the public
    // overlay, and the Triggers' OIDC accounts Eventing creates when OIDC is on.
    await applyManifests(cp, rendered['knative/overlays/public'].filter((o) => ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)));
    for (const t of triggers('knative/overlays/public')) await createServiceAccount(cp, 'podcount', triggerIdentity(t.metadata.name));
    await createNamespace(cp, 'shop');
    await createPods(cp, 'shop', 3);
    await createPods(cp, 'podcount', 1);
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await cp?.stop();
  });

  test('the public overlay checks callers and hides /diagnostics; the root kustomization lets everyone in, as before', () => {
    const pub = loadConfig(envOf('knative/overlays/public'));
    assert.deepEqual([pub.auth, pub.diagnostics, pub.scope], ['kubernetes', false, 'cluster']);
    const root = loadConfig(envOf('knative'));
    assert.deepEqual([root.auth, root.diagnostics], ['none', true]);
    // public exposes the route; it is the one rendering that must check callers.
    assert.equal((one<KnService>('knative/overlays/public', 'Service', 'podcount').metadata['labels'] as Record<string, string>)['networking.knative.dev/visibility'], undefined);
  });

  test('every caller podcount ships sends a token for an audience podcount accepts', () => {
    for (const r of RENDERINGS) {
      const { authAudiences } = loadConfig(envOf(r));
      const token = projected(r);
      assert.ok(token?.audience && authAudiences.includes(token.audience), `${r}: the CronJob's projected token audience ${token?.audience}`);
      // 600 s is the API server's minimum; the token must outlive the Job.
      assert.ok(token.expirationSeconds! >= 600 && token.expirationSeconds! > one<CronJob>(r, 'CronJob').spec.jobTemplate.spec.activeDeadlineSeconds);
      const spec = cronSpec(r);
      assert.equal(spec.serviceAccountName, 'podcount-ping');
      assert.equal(spec.automountServiceAccountToken, false, 'no API token in the CronJob\'s pod');
      const mount = spec.containers[0]!.volumeMounts?.find((m) => spec.volumes?.some((v) => v.name === m.name && v.projected));
      assert.match(spec.containers[0]!.args!.join(' '), new RegExp(`Authorization: Bearer %s.*"\\$\\(cat ${mount!.mountPath}/${token.path}\\)"`));
      for (const t of triggers(r)) assert.ok(authAudiences.includes(t.spec.subscriber.audience ?? ''), `${r} Trigger ${t.metadata.name}: subscriber.audience ${t.spec.subscriber.audience}`);
    }
  });

  test('Knative accepts the public overlay with Eventing\'s OIDC on (authentication-oidc: enabled)', async () => {
    const yaml = rendered['knative/overlays/public'].map((o) => JSON.stringify(o)).join('\n---\n');
    const { ok, results } = await validateKnative(yaml, { eventingFeatures: { 'authentication-oidc': 'enabled' } });
    assert.ok(ok, JSON.stringify(results));
    assert.deepEqual(results.filter((x) => x.warnings), []);
    // The edited config-features is really what the checks read: a flag it turns on changes a verdict.
    const trigger = structuredClone(triggers('knative/overlays/public')[0]!) as Trigger & { spec: { delivery: Record<string, unknown> } };
    trigger.spec.delivery = { ...trigger.spec.delivery, retryAfterMax: 'PT30S' };
    assert.equal((await validateKnative(JSON.stringify(trigger))).ok, false);
    assert.equal((await validateKnative(JSON.stringify(trigger), { eventingFeatures: { 'authentication-oidc': 'enabled', 'delivery-retryafter': 'enabled' } })).ok, true);
  });

  test('caller-auth grants exactly the Trigger identities Eventing creates and the CronJob\'s account', () => {
    const r = 'knative/overlays/public';
    const callers = one<Binding>(r, 'ClusterRoleBinding', 'podcount-callers');
    assert.deepEqual(callers.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'podcount-pod-lister' });
    const expected = [cronSpec(r).serviceAccountName!, ...triggers(r).map((t) => triggerIdentity(t.metadata.name))].sort();
    assert.deepEqual(callers.subjects.map((s) => `${s.kind} ${s.namespace}/${s.name}`).sort(), expected.map((n) => `ServiceAccount podcount/${n}`));
  });

  /** A SubjectAccessReview, answered by the real RBAC authorizer. */
  async function may(user: string, verb: string, resource: string, o: { namespace?: string; group?: string; subresource?: string } = {}): Promise<boolean> {
    const ns = user.split(':')[2];
    const res = await cp.admin.must('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      method: 'POST',
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'], resourceAttributes: { verb, resource, group: o.group ?? '', namespace: o.namespace ?? '', subresource: o.subresource ?? '' } } },
    });
    return res.json.status.allowed === true;
  }

  /** `kubectl auth can-i ... --as=<user>`, as a user would ask it. */
  function canI(user: string, ...args: string[]): boolean {
    const r = spawnSync(cp.binaries.kubectl, ['--kubeconfig', cp.kubeconfigPath, 'auth', 'can-i', ...args, `--as=${user}`], { encoding: 'utf8' });
    assert.match(r.stdout, /^(yes|no)/, `kubectl auth can-i ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout.startsWith('yes');
  }

  test('podcount may create tokenreviews and subjectaccessreviews, exactly what system:auth-delegator grants, and nothing more', async () => {
    assert.equal(await may(PODCOUNT, 'create', 'tokenreviews', { group: 'authentication.k8s.io' }), true);
    assert.equal(await may(PODCOUNT, 'create', 'subjectaccessreviews', { group: 'authorization.k8s.io' }), true);
    const denied: Array<[string, string, { group?: string; namespace?: string; subresource?: string }]> = [
      ['create', 'localsubjectaccessreviews', { group: 'authorization.k8s.io', namespace: 'shop' }], ['impersonate', 'users', {}], ['impersonate', 'serviceaccounts', { namespace: 'shop' }],
      ['create', 'serviceaccounts', { subresource: 'token', namespace: 'shop' }], ['get', 'secrets', { namespace: 'podcount' }], ['get', 'pods', {}], ['watch', 'pods', {}],
      ['create', 'clusterrolebindings', { group: 'rbac.authorization.k8s.io' }], ['escalate', 'clusterroles', { group: 'rbac.authorization.k8s.io' }],
    ];
    const wrongly = [];
    for (const [verb, resource, o] of denied) if (await may(PODCOUNT, verb, resource, o)) wrongly.push(`${verb} ${resource}`);
    assert.deepEqual(wrongly, []);
    assert.equal(canI(PODCOUNT, 'create', 'tokenreviews.authentication.k8s.io'), true);
    assert.equal(canI(PODCOUNT, 'create', 'subjectaccessreviews.authorization.k8s.io'), true);
    assert.equal(canI(PODCOUNT, 'impersonate', 'users'), false);
    assert.equal(canI(PODCOUNT, 'create', 'serviceaccounts/token', '-n', 'shop'), false);
    // The same rules as the built-in role kube-rbac-proxy and aggregated API servers are bound to.
    const ours = one<KubeObject & { rules: unknown[] }>('knative/overlays/public', 'ClusterRole', 'podcount-caller-reviews').rules;
    const delegator = (await cp.admin.must('/apis/rbac.authorization.k8s.io/v1/clusterroles/system:auth-delegator')).json.rules as Array<Record<string, string[]>>;
    const norm = (rules: Array<Record<string, string[]>>) => rules.map((x) => `${x['verbs']}|${x['apiGroups']}|${x['resources']}`).sort();
    assert.deepEqual(norm(ours as Array<Record<string, string[]>>), norm(delegator));
  });

  test('the shipped callers may list pods everywhere and nothing else; their podcount tokens are refused by the API server', async () => {
    const users = ['podcount-ping', ...triggers('knative/overlays/public').map((t) => triggerIdentity(t.metadata.name))].map((n) => `system:serviceaccount:podcount:${n}`);
    for (const user of users) {
      assert.equal(await may(user, 'list', 'pods'), true, user);
      assert.equal(canI(user, 'list', 'pods', '--all-namespaces'), true, user);
      const wrongly = [];
      for (const [verb, resource, o] of [['get', 'pods', {}], ['watch', 'pods', {}], ['list', 'secrets', {}], ['get', 'pods', { subresource: 'log', namespace: 'shop' }], ['create', 'tokenreviews', { group: 'authentication.k8s.io' }], ['list', 'services', { group: 'serving.knative.dev' }]] as const) {
        if (await may(user, verb, resource, o)) wrongly.push(`${verb} ${resource}`);
      }
      assert.deepEqual(wrongly, [], user);
      assert.equal(canI(user, 'get', 'pods', '-n', 'shop'), false, user);
    }
    // Tokens as the kubelet (projected volume) and Eventing (TokenRequest for the subscriber's audience) mint them.
    const cron = projected('knative/overlays/public')!;
    const cronToken = await mintToken(cp, 'podcount', 'podcount-ping', { audiences: [cron.audience!], expirationSeconds: cron.expirationSeconds! });
    assert.equal((await requestWithToken(cp, cronToken, '/api/v1/pods?limit=1')).status, 401, 'a podcount token is refused by the API server');
  });

  describe('the callers meet podcount as the public overlay runs it', () => {
    let fn: FunctionProcess;
    let tokenDir: string;
    const cronScript = () => cronSpec('knative/overlays/public').containers[0]!.args!.join(' ');

    before(async () => {
      // podcount's own account and settings from the overlay, as its pod would have them.
      const saDir = mkdtempSync(join(tmpdir(), 'podcount-public-sa-'));
      tokenDir = mkdtempSync(join(tmpdir(), 'podcount-ping-token-'));
      cleanups.push(() => rmSync(saDir, { recursive: true, force: true }), () => rmSync(tokenDir, { recursive: true, force: true }));
      await writeServiceAccountDir(saDir, { token: await mintToken(cp, 'podcount', 'podcount'), caPem: cp.caPem, namespace: 'podcount' });
      fn = await FunctionProcess.start({ env: { ...envOf('knative/overlays/public'), ...inClusterEnv(cp), PODCOUNT_SERVICEACCOUNT_DIR: saDir } });
      cleanups.push(() => fn.stop());
      // The CronJob pod's projected volume: a token of podcount-ping for the overlay's audience.
      const cron = projected('knative/overlays/public')!;
      await writeServiceAccountDir(tokenDir, { token: await mintToken(cp, 'podcount', 'podcount-ping', { audiences: [cron.audience!], expirationSeconds: cron.expirationSeconds! }), caPem: cp.caPem, namespace: 'podcount' });
    });

    /** The CronJob's own command (sh -c, curl), with the volume's path pointing at the test's folder. */
    function runCronJob(): { status: number | null; out: string } {
      const spec = cronSpec('knative/overlays/public');
      const mount = spec.containers[0]!.volumeMounts!.find((m) => m.name === spec.volumes!.find((v) => v.projected)!.name)!;
      const script = cronScript().replaceAll(mount.mountPath, tokenDir);
      const r = spawnSync('/bin/sh', ['-c', script], { env: { PATH: process.env['PATH'], TARGET_URL: fn.url }, encoding: 'utf8', timeout: 60_000 });
      return { status: r.status, out: r.stdout + r.stderr };
    }

    test('the CronJob\'s command sends its projected token and gets a count back as a CloudEvent', async () => {
      const r = runCronJob();
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, /^HTTP\/1\.1 200/m);
      assert.match(r.out, /^ce-type: dev\.podcount\.pods\.counted/mi);
      assert.match(r.out, /"count":4/);
      const line = await fn.waitForLog((l) => l.msg === 'invocation' && l['user'] === 'system:serviceaccount:podcount:podcount-ping');
      assert.equal(line['status'], 200);
      assert.ok(!/Bearer/.test(r.out), 'curl does not print the request\'s headers');
    });

    test('a Broker delivery with the Trigger\'s OIDC token is answered; without a token (OIDC off) it is a 401, which the Broker does not retry', async () => {
      for (const t of triggers('knative/overlays/public')) {
        // Eventing's OIDCTokenProvider: TokenRequest for the Trigger's account, audience = the subscriber's, one hour.
        const token = await mintToken(cp, 'podcount', triggerIdentity(t.metadata.name), { audiences: [t.spec.subscriber.audience!], expirationSeconds: 3600 });
        const delivery = { 'ce-specversion': '1.0', 'ce-id': randomUUID(), 'ce-source': '/apis/v1/namespaces/podcount/pingsources/podcount-ping', 'ce-type': 'dev.knative.sources.ping', prefer: 'reply', 'kn-namespace': 'podcount' };
        const res = await fn.post('/', '', { ...delivery, authorization: `Bearer ${token}` });
        assert.equal(res.status, 200, await res.clone().text());
        assert.equal(res.headers.get('ce-type'), 'dev.podcount.pods.counted');
        const bare = await fn.post('/', '', { ...delivery, 'ce-id': randomUUID() });
        // knative.dev/eventing pkg/kncloudevents SelectiveRetry retries 404, 408, 409, 429 and 5xx only.
        assert.equal(bare.status, 401);
        assert.equal(bare.headers.get('ce-type'), null);
      }
    });

    test('/diagnostics is off in the public overlay, also for a checked caller', async () => {
      const cron = projected('knative/overlays/public')!;
      const token = await mintToken(cp, 'podcount', 'podcount-ping', { audiences: [cron.audience!] });
      assert.equal((await fn.get('/diagnostics', { authorization: `Bearer ${token}` })).status, 404);
      assert.equal((await fn.get('/diagnostics')).status, 401);
    });

    test('without its grant the CronJob gets 403 and the fix for its own account; curl fails the Job', async () => {
      await cp.admin.must('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/podcount-callers', { method: 'DELETE' });
      const r = await waitFor(() => { const x = runCronJob(); return x.status !== 0 && x; }, { timeoutMs: 20_000, intervalMs: 500, what: 'the CronJob to be refused once its grant is gone' });
      assert.match(r.out, /^HTTP\/1\.1 403/m);
      assert.match(r.out, /--serviceaccount=podcount:podcount-ping/);
      assert.equal(r.status, 22, 'curl --fail-with-body exits 22: the Job fails');
    });
  });
});
