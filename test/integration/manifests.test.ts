// knative/ proven on the real API server: every rendering is accepted by a server-side dry-run
// with the Knative CRDs installed, passes Knative's own webhook validation (which also rejects
// broken copies), grants exactly `list pods` and nothing else, runs under PodSecurity
// `restricted`, and actually lets the function count (and answer 502 forbidden without it).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { applyManifests, createNamespace, createPods, mintToken, parseManifests, writeServiceAccountDir, inClusterEnv, type KubeObject } from '../support/cluster.ts';
import { ControlPlane } from '../support/controlplane.ts';
import { FunctionProcess } from '../support/function-process.ts';
import { knativeCrdFiles, validateKnative } from '../knative/validator.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const ROOT = resolve(import.meta.dirname, '..', '..');
const RENDERINGS = { base: 'knative', 'namespace-scoped': 'knative/overlays/namespace-scoped', public: 'knative/overlays/public' } as const;
const SA = 'system:serviceaccount:podcount:podcount';

describe('knative/ manifests on a real API server', () => {
  let cp: ControlPlane;
  const rendered: Record<string, string> = {};
  const cleanups: Array<() => unknown> = [];

  before(async () => {
    cp = await ControlPlane.start();
    for (const [name, dir] of Object.entries(RENDERINGS)) {
      rendered[name] = execFileSync(cp.binaries.kubectl, ['kustomize', join(ROOT, dir)], { encoding: 'utf8' });
    }
    // The CRDs from the pinned Knative modules, established before anything uses them.
    for (const file of knativeCrdFiles()) await applyManifests(cp, readFileSync(file, 'utf8'));
    for (const crd of ['services.serving.knative.dev', 'brokers.eventing.knative.dev', 'triggers.eventing.knative.dev', 'pingsources.sources.knative.dev']) {
      for (let i = 0; ; i++) {
        const res = await cp.adminFetch(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}`);
        if (res.json?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True')) break;
        assert.ok(i < 100, `${crd} was not established`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await cp?.stop();
  });

  test('every rendering holds what it should', () => {
    const kinds = (name: string) => parseManifests(rendered[name]!).map((o) => o.kind).sort();
    assert.deepEqual(kinds('base'), ['Broker', 'ClusterRole', 'ClusterRoleBinding', 'CronJob', 'Namespace', 'PingSource', 'Service', 'ServiceAccount', 'Trigger', 'Trigger']);
    assert.deepEqual(kinds('namespace-scoped'), ['Broker', 'CronJob', 'Namespace', 'PingSource', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', 'Trigger', 'Trigger']);
    const service = (name: string) => parseManifests(rendered[name]!).find((o) => o.kind === 'Service')! as KubeObject & { spec: any };
    assert.equal(service('base').metadata['labels'] && (service('base').metadata['labels'] as Record<string, string>)['networking.knative.dev/visibility'], 'cluster-local');
    assert.equal((service('public').metadata['labels'] as Record<string, string>)['networking.knative.dev/visibility'], undefined);
    assert.deepEqual(service('namespace-scoped').spec.template.spec.containers[0].env, [{ name: 'PODCOUNT_SCOPE', value: 'namespace' }]);
  });

  for (const name of Object.keys(RENDERINGS)) {
    test(`${name}: accepted by a server-side dry-run (strict field validation)`, async () => {
      const objects = parseManifests(rendered[name]!);
      const namespace = objects.find((o) => o.kind === 'Namespace')!;
      await applyManifests(cp, [namespace]); // namespaced dry-runs need the namespace to exist
      const applied = await applyManifests(cp, objects, { dryRun: true });
      assert.equal(applied.length, objects.length);
    });

    test(`${name}: passes Knative's own webhook validation`, async () => {
      const { ok, results } = await validateKnative(rendered[name]!);
      assert.ok(ok, JSON.stringify(results));
      assert.deepEqual(results.map((r) => r.kind).sort(), ['Broker', 'PingSource', 'Service', 'Trigger', 'Trigger']);
    });
  }

  test('Knative validation bites: pod-level securityContext, automountServiceAccountToken: true, a second port', async () => {
    const service = parseManifests(rendered['base']!).find((o) => o.kind === 'Service')! as KubeObject & { spec: any };
    const broken = (change: (s: any) => void) => {
      const copy = structuredClone(service);
      change(copy.spec.template.spec);
      return JSON.stringify(copy);
    };
    const cases: Array<[string, string, RegExp]> = [
      ['pod-level securityContext', broken((s) => { s.securityContext = { runAsNonRoot: true }; }), /spec\.template\.spec\.securityContext/],
      ['automountServiceAccountToken: true', broken((s) => { s.automountServiceAccountToken = true; }), /automountServiceAccountToken/],
      ['a second container port', broken((s) => { s.containers[0].ports.push({ containerPort: 9000 }); }), /more than one container port/],
      ['a reserved env var', broken((s) => { s.containers[0].env.push({ name: 'K_SERVICE', value: 'x' }); }), /reserved environment variable/],
    ];
    for (const [what, yaml, message] of cases) {
      const { ok, results } = await validateKnative(yaml);
      assert.equal(ok, false, what);
      assert.match(results[0]!.errors ?? '', message, what);
    }
  });

  /** A SubjectAccessReview for the podcount ServiceAccount, answered by the real RBAC authorizer. */
  async function may(verb: string, resource: string, opts: { namespace?: string; group?: string; subresource?: string } = {}): Promise<boolean> {
    const res = await cp.adminFetch('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      method: 'POST',
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: SA, groups: ['system:serviceaccounts', 'system:serviceaccounts:podcount', 'system:authenticated'], resourceAttributes: { verb, resource, group: opts.group ?? '', namespace: opts.namespace ?? '', subresource: opts.subresource ?? '' } } },
    });
    assert.equal(res.status, 201, res.text);
    return res.json.status.allowed === true;
  }

  function canI(...args: string[]): boolean {
    try {
      execFileSync(cp.binaries.kubectl, ['--kubeconfig', cp.kubeconfigPath, 'auth', 'can-i', ...args, `--as=${SA}`], { encoding: 'utf8' });
      return true;
    } catch (err) {
      const out = String((err as { stdout?: string }).stdout ?? '');
      assert.match(out, /^no/, `kubectl auth can-i ${args.join(' ')}: ${out}`);
      return false;
    }
  }

  test('base RBAC: list pods everywhere, and nothing else', async () => {
    const rbac = parseManifests(rendered['base']!).filter((o) => ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind));
    await applyManifests(cp, rbac);
    await createNamespace(cp, 'elsewhere');
    assert.equal(await may('list', 'pods'), true, 'list pods in all namespaces');
    assert.equal(await may('list', 'pods', { namespace: 'elsewhere' }), true);
    assert.equal(await may('list', 'pods', { namespace: 'podcount' }), true);
    const denied: Array<[string, string, { namespace?: string; group?: string; subresource?: string }]> = [
      ['get', 'pods', {}], ['watch', 'pods', {}], ['create', 'pods', { namespace: 'elsewhere' }], ['delete', 'pods', { namespace: 'elsewhere' }],
      ['update', 'pods', { namespace: 'podcount' }], ['get', 'pods', { subresource: 'log', namespace: 'elsewhere' }], ['create', 'pods', { subresource: 'exec', namespace: 'elsewhere' }],
      ['get', 'secrets', { namespace: 'podcount' }], ['list', 'secrets', {}], ['list', 'configmaps', {}], ['list', 'services', {}],
      ['list', 'deployments', { group: 'apps' }], ['list', 'nodes', {}], ['list', 'namespaces', {}], ['list', 'events', {}],
      ['create', 'serviceaccounts', { subresource: 'token', namespace: 'podcount' }], ['list', 'services', { group: 'serving.knative.dev' }],
    ];
    const wrongly = [];
    for (const [verb, resource, o] of denied) if (await may(verb, resource, o)) wrongly.push(`${verb} ${resource}${o.subresource ? `/${o.subresource}` : ''}`);
    assert.deepEqual(wrongly, [], 'granted beyond list pods');
    assert.ok(denied.length >= 10);
    // The same questions as a user would ask them.
    assert.equal(canI('list', 'pods', '--all-namespaces'), true);
    assert.equal(canI('get', 'pods', '-n', 'elsewhere'), false);
    assert.equal(canI('list', 'secrets', '--all-namespaces'), false);
    assert.equal(canI('watch', 'pods', '--all-namespaces'), false);
  });

  test('with the base RBAC and a podcount token the function counts; without the binding it answers 502 forbidden', async () => {
    await createPods(cp, 'elsewhere', 4);
    await createPods(cp, 'podcount', 2);
    const dir = mkdtempSync(join(tmpdir(), 'podcount-manifest-sa-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    await writeServiceAccountDir(dir, { token: await mintToken(cp, 'podcount', 'podcount'), caPem: cp.caPem, namespace: 'podcount' });
    const fn = await FunctionProcess.start({ env: { ...inClusterEnv(cp), PODCOUNT_SERVICEACCOUNT_DIR: dir } });
    cleanups.push(() => fn.stop());
    const ok = await fn.get('/');
    assert.equal(ok.status, 200);
    assert.equal((await ok.json() as { count: number }).count, 6);
    assert.equal((await cp.adminFetch('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/podcount-pod-lister', { method: 'DELETE' })).status, 200);
    let res: Response;
    for (let i = 0; ; i++) {
      res = await fn.get('/');
      if (res.status !== 200 || i > 50) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(res.status, 502);
    assert.equal((await res.json() as { error: { code: string } }).error.code, 'forbidden');
  });

  test('namespace-scoped RBAC: list pods in podcount only', async () => {
    // The base binding is gone (previous test); remove its role too and apply the overlay's RBAC.
    await cp.adminFetch('/apis/rbac.authorization.k8s.io/v1/clusterroles/podcount-pod-lister', { method: 'DELETE' });
    await cp.adminFetch('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/podcount-pod-lister', { method: 'DELETE' });
    await applyManifests(cp, parseManifests(rendered['namespace-scoped']!).filter((o) => ['Role', 'RoleBinding'].includes(o.kind)));
    assert.equal(await may('list', 'pods', { namespace: 'podcount' }), true);
    assert.equal(await may('list', 'pods', { namespace: 'elsewhere' }), false);
    assert.equal(await may('list', 'pods'), false, 'not cluster-wide');
    assert.equal(await may('get', 'pods', { namespace: 'podcount' }), false);
    assert.equal(canI('list', 'pods', '-n', 'podcount'), true);
    assert.equal(canI('list', 'pods', '--all-namespaces'), false);
  });

  describe('PodSecurity restricted (the namespace enforces it)', () => {
    /** A Pod as Knative or the Job controller would create it from a template. */
    function podFrom(name: string, template: { metadata?: Record<string, unknown>; spec: any }): KubeObject {
      const spec = structuredClone(template.spec);
      // Revision-only fields that Knative turns into queue-proxy settings, not PodSpec fields.
      for (const k of ['containerConcurrency', 'timeoutSeconds', 'responseStartTimeoutSeconds', 'idleTimeoutSeconds']) delete spec[k];
      for (const c of spec.containers) {
        // Knative fills in the probe port and container name; a Pod needs them.
        c.name ??= 'user-container';
        if (c.readinessProbe?.httpGet && !c.readinessProbe.httpGet.port) c.readinessProbe.httpGet.port = c.ports?.[0]?.containerPort ?? 8080;
      }
      return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'podcount', labels: (template.metadata?.['labels'] as Record<string, string>) ?? {} }, spec };
    }
    const objects = () => parseManifests(rendered['base']!);
    const servicePod = () => podFrom('podcount-template', (objects().find((o) => o.kind === 'Service') as any).spec.template);
    const cronPod = () => podFrom('podcount-ping-template', (objects().find((o) => o.kind === 'CronJob') as any).spec.jobTemplate.spec.template);

    test('the namespace is labelled to enforce restricted', async () => {
      const ns = await cp.adminFetch('/api/v1/namespaces/podcount');
      assert.equal(ns.json.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    });

    test('the Service\'s pod template passes', async () => {
      await applyManifests(cp, [servicePod()], { dryRun: true });
    });

    test('the CronJob\'s pod template passes', async () => {
      await applyManifests(cp, [cronPod()], { dryRun: true });
    });

    test('a non-compliant copy is rejected (the check bites)', async () => {
      const pod = servicePod() as KubeObject & { spec: any };
      delete pod.spec.containers[0].securityContext.runAsNonRoot;
      delete pod.spec.containers[0].securityContext.capabilities;
      pod.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
      await assert.rejects(applyManifests(cp, [pod], { dryRun: true }), /violates PodSecurity "restricted:latest".*allowPrivilegeEscalation/s);
    });
  });
});
