// knative/ proven on a real API server: every rendering is accepted by a server-side dry-run with
// the Knative CRDs installed (from the pinned modules), passes Knative's own admission checks
// (which also reject broken copies), cannot loop through the Broker, delivers through a cold start
// to a dead-letter sink that exists, grants exactly `list pods` and nothing else, runs under
// PodSecurity `restricted`, and actually lets the function count (and answer 502 forbidden without it).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../function/config.ts';
import { knativeCrdFiles, validateKnative } from '../knative/validator.ts';
import { ControlPlane } from '../support/controlplane.ts';
import { FunctionProcess } from '../support/function-process.ts';
import { inClusterEnv, mintToken, writeServiceAccountDir } from '../support/in-cluster.ts';
import { applyManifests, type KubeObject, parseManifests } from '../support/manifests.ts';
import { createNamespace } from '../support/namespaces.ts';
import { createPods } from '../support/pods.ts';
import { waitFor } from '../support/poll.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
/** What a user applies: everything, the function alone (no optional callers), and the overlays. */
const RENDERINGS = ['knative', 'knative/base', 'knative/overlays/namespace-scoped', 'knative/overlays/public', 'knative/overlays/func'] as const;
type Rendering = (typeof RENDERINGS)[number];
const SA = 'system:serviceaccount:podcount:podcount';
// queue-proxy holds the user container's SIGTERM until it has drained (its preStop hook,
// knative.dev/serving pkg/queue: 30 s drain); the grace period counts from before that.
const QUEUE_PROXY_DRAIN_SECONDS = 30;
// How long a channel dispatcher waits for one delivery, retries included, before giving up
// (knative.dev/eventing pkg/channel/fanout: defaultTimeout = 15 * time.Minute).
const CHANNEL_DISPATCH_SECONDS = 15 * 60;

// Loose shapes for the parts of the rendered objects the tests read.
interface Container { name?: string; env?: Array<{ name: string; value?: string }>; ports?: Array<{ containerPort: number }>; readinessProbe?: { httpGet?: { path?: string; port?: number } }; securityContext?: Record<string, unknown> }
interface PodTemplate { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: { containers: Container[]; timeoutSeconds?: number; [k: string]: unknown } }
type KnService = KubeObject & { spec: { template: PodTemplate } };
type Deployment = KubeObject & { spec: { selector: { matchLabels: Record<string, string> }; template: PodTemplate } };
type V1Service = KubeObject & { spec: { selector: Record<string, string>; ports: Array<{ port: number; targetPort: number | string }> } };
interface Delivery { timeout?: string; retry?: number; backoffPolicy?: string; backoffDelay?: string; deadLetterSink?: { ref?: { apiVersion: string; kind: string; name: string } } }
type Broker = KubeObject & { spec: { delivery?: Delivery } };
type CronJob = KubeObject & { spec: { jobTemplate: { spec: { template: PodTemplate } } } };
type Trigger = KubeObject & { spec: { broker: string; filter?: { attributes?: Record<string, string> }; filters?: unknown; subscriber: { ref?: { kind: string; name: string } }; delivery?: Delivery } };

/** Seconds in an ISO 8601 duration of the shape Eventing's delivery fields take (PT60S, PT1.5S, PT1M). */
function isoSeconds(d: string): number {
  const m = /^PT(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(d);
  assert.ok(m && (m[1] || m[2]), `${d}: not a PTnMnS duration`);
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
}

describe('knative/ manifests on a real API server', () => {
  let cp: ControlPlane;
  const rendered = {} as Record<Rendering, string>;
  const objects = (r: Rendering): KubeObject[] => parseManifests(rendered[r]);
  const one = <T extends KubeObject>(r: Rendering, kind: string): T => {
    const found = objects(r).filter((o) => o.kind === kind);
    assert.equal(found.length, 1, `${r}: one ${kind}`);
    return found[0] as T;
  };
  /** The Knative Service (a rendering with the Broker also holds the dead-letter sink's v1 Service). */
  const ksvc = (r: Rendering): KnService => {
    const found = objects(r).filter((o) => o.kind === 'Service' && o.apiVersion === 'serving.knative.dev/v1');
    assert.equal(found.length, 1, `${r}: one Knative Service`);
    return found[0] as KnService;
  };
  const cleanups: Array<() => unknown> = [];

  before(async () => {
    cp = await ControlPlane.start();
    // The kubectl built with the control plane: its kustomize is what the README tells users to run.
    for (const r of RENDERINGS) rendered[r] = execFileSync(cp.binaries.kubectl, ['kustomize', join(ROOT, r)], { encoding: 'utf8' });
    // The CRDs from the pinned Knative modules in the Go module cache; applyManifests waits for
    // each to be Established.
    for (const file of await knativeCrdFiles()) await applyManifests(cp, readFileSync(file, 'utf8'));
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await cp?.stop();
  });

  test('every rendering holds what it should', () => {
    const kinds = (r: Rendering) => objects(r).map((o) => o.kind).sort();
    // The CronJob comes with its own ServiceAccount (the identity podcount checks when it checks
    // callers); the Broker with its dead-letter sink (a Deployment and its Service).
    const callers = ['Broker', 'CronJob', 'Deployment', 'PingSource', 'Service', 'ServiceAccount', 'Trigger', 'Trigger'];
    assert.deepEqual(kinds('knative/base'), ['ClusterRole', 'ClusterRoleBinding', 'Namespace', 'Service', 'ServiceAccount']);
    assert.deepEqual(kinds('knative'), [...kinds('knative/base'), ...callers].sort());
    // public = everything + components/caller-auth (manifests-caller-auth.test.ts).
    assert.deepEqual(kinds('knative/overlays/public'), [...kinds('knative'), 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding'].sort());
    assert.deepEqual(kinds('knative/overlays/namespace-scoped'), ['Namespace', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', ...callers].sort());
    // func: what `func deploy` does not create; no Knative Service and no Trigger (func makes both).
    assert.deepEqual(kinds('knative/overlays/func'), ['Broker', 'ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Namespace', 'Service', 'ServiceAccount']);
    const labels = (r: Rendering) => ksvc(r).metadata['labels'] as Record<string, string>;
    for (const r of ['knative', 'knative/base', 'knative/overlays/namespace-scoped'] as const) assert.equal(labels(r)['networking.knative.dev/visibility'], 'cluster-local', r);
    assert.equal(labels('knative/overlays/public')['networking.knative.dev/visibility'], undefined);
    const env = (r: Rendering) => ksvc(r).spec.template.spec.containers[0]!.env;
    assert.deepEqual(env('knative'), [{ name: 'PODCOUNT_SCOPE', value: 'cluster' }]);
    assert.deepEqual(env('knative/overlays/namespace-scoped'), [{ name: 'PODCOUNT_SCOPE', value: 'namespace' }]);
  });

  for (const r of RENDERINGS) {
    test(`${r}: accepted by a server-side dry-run (strict field validation)`, async () => {
      const all = objects(r);
      await applyManifests(cp, all.filter((o) => o.kind === 'Namespace')); // namespaced dry-runs need it to exist
      const applied = await applyManifests(cp, all, { dryRun: true });
      assert.deepEqual(applied.map((o) => `${o.kind}/${o.metadata.name}`), all.map((o) => `${o.kind}/${o.metadata.name}`));
    });

    test(`${r}: passes Knative's own admission checks`, async () => {
      const { ok, results } = await validateKnative(rendered[r]);
      assert.ok(ok, JSON.stringify(results));
      const knative = objects(r).filter((o) => /\.knative\.dev\//.test(o.apiVersion)).map((o) => `${o.kind}/${o.metadata.name}`);
      assert.deepEqual(results.map((x) => `${x.kind}/${x.name}`), knative, 'every Knative object checked');
      assert.deepEqual(results.filter((x) => x.warnings), [], 'no warnings either');
    });
  }

  test('Knative\'s checks bite: broken copies fail, naming the field', async () => {
    const service = ksvc('knative');
    const broker = one('knative', 'Broker');
    const ping = one('knative', 'PingSource');
    const broken = <T extends KubeObject>(o: T, change: (copy: any) => void) => {
      const copy = structuredClone(o);
      change(copy);
      return JSON.stringify(copy);
    };
    const cases: Array<[string, string, RegExp]> = [
      ['pod-level securityContext', broken(service, (s) => { s.spec.template.spec.securityContext = { runAsNonRoot: true }; }), /must not set the field\(s\): spec\.template\.spec\.securityContext/],
      ['automountServiceAccountToken: true', broken(service, (s) => { s.spec.template.spec.automountServiceAccountToken = true; }), /spec\.template\.spec\.automountServiceAccountToken/],
      ['a second container port', broken(service, (s) => { s.spec.template.spec.containers[0].ports.push({ containerPort: 9000 }); }), /more than one container port is set: spec\.template\.spec\.containers\[\*\]\.ports/],
      ['a reserved env var', broken(service, (s) => { s.spec.template.spec.containers[0].env.push({ name: 'K_SERVICE', value: 'x' }); }), /"K_SERVICE" is a reserved environment variable: spec\.template\.spec\.containers\[0\]\.env\[1\]\.name/],
      ['lifecycle hooks (Knative owns preStop)', broken(service, (s) => { s.spec.template.spec.containers[0].lifecycle = { preStop: { sleep: { seconds: 5 } } }; }), /spec\.template\.spec\.containers\[0\]\.lifecycle/],
      ['autoscaling annotations on the Service itself', broken(service, (s) => { s.metadata.annotations = { 'autoscaling.knative.dev/max-scale': '5' }; }), /autoscaling annotations must be put under "spec\.template\.metadata\.annotations"/],
      ['an unknown field', broken(service, (s) => { s.spec.template.spec.containers[0].bogus = true; }), /unknown field "bogus"/],
      // The cold-start knobs, each with a value Knative refuses.
      ['initial-scale 0 (needs allow-zero-initial-scale in config-autoscaler, off by default)', broken(service, (s) => { s.spec.template.metadata.annotations['autoscaling.knative.dev/initial-scale'] = '0'; }), /initial-scale=0 not allowed by cluster/],
      ['initial-scale that is not a number', broken(service, (s) => { s.spec.template.metadata.annotations['autoscaling.knative.dev/initial-scale'] = 'one'; }), /invalid value: one: spec\.template\.metadata\.annotations\.autoscaling\.knative\.dev\/initial-scale/],
      ['scale-down-delay over an hour', broken(service, (s) => { s.spec.template.metadata.annotations['autoscaling.knative.dev/scale-down-delay'] = '2h'; }), /expected 0s <= 2h <= 1h0m0s: spec\.template\.metadata\.annotations\.autoscaling\.knative\.dev\/scale-down-delay/],
      ['scale-down-delay finer than a second', broken(service, (s) => { s.spec.template.metadata.annotations['autoscaling.knative.dev/scale-down-delay'] = '1500ms'; }), /at most second precision: spec\.template\.metadata\.annotations\.autoscaling\.knative\.dev\/scale-down-delay/],
      ['enableServiceLinks that is not a boolean', broken(service, (s) => { s.spec.template.spec.enableServiceLinks = 'no'; }), /cannot unmarshal string into .*enableServiceLinks of type bool/],
      // The Broker's delivery, each field with a value Eventing refuses.
      ['a delivery timeout of zero', broken(broker, (b) => { b.spec.delivery.timeout = 'PT0S'; }), /invalid value: PT0S: spec\.delivery\.timeout/],
      ['a delivery timeout that is not ISO 8601', broken(broker, (b) => { b.spec.delivery.timeout = '60s'; }), /invalid value: 60s: spec\.delivery\.timeout/],
      ['a negative retry count', broken(broker, (b) => { b.spec.delivery.retry = -1; }), /invalid value: -1: spec\.delivery\.retry/],
      ['a backoff policy Knative does not know', broken(broker, (b) => { b.spec.delivery.backoffPolicy = 'quadratic'; }), /invalid value: quadratic: spec\.delivery\.backoffPolicy/],
      ['a backoff delay that is not ISO 8601', broken(broker, (b) => { b.spec.delivery.backoffDelay = '1s'; }), /invalid value: 1s: spec\.delivery\.backoffDelay/],
      ['a dead-letter sink naming nothing', broken(broker, (b) => { b.spec.delivery.deadLetterSink = {}; }), /expected at least one, got none: spec\.delivery\.deadLetterSink\.ref, spec\.delivery\.deadLetterSink\.uri/],
      ['a PingSource schedule that is not cron', broken(ping, (p) => { p.spec.schedule = 'every 5 minutes'; }), /spec\.schedule/],
    ];
    for (const [what, yaml, message] of cases) {
      const { ok, results } = await validateKnative(yaml);
      assert.equal(ok, false, what);
      assert.equal(results.length, 1, what);
      assert.match(results[0]!.errors ?? '', message, what);
    }
  });

  test('the checks run with a stock install\'s config, not bare Go defaults', async () => {
    // Eventing reads its feature flags only from the webhook's context: without the shipped
    // config-features every feature is off and the Broker's delivery.timeout would be refused.
    // A stock 1.23 install enables it (delivery-timeout: enabled, a beta feature) ...
    const broker = structuredClone(one('knative', 'Broker')) as any;
    assert.deepEqual((await validateKnative(JSON.stringify(broker))).results, [{ kind: 'Broker', name: 'default', ok: true }]);
    // ... so a cluster whose operator turned it off refuses the Broker, naming the field (README).
    assert.match((await validateKnative(JSON.stringify(broker), { eventingFeatures: { 'delivery-timeout': 'disabled' } })).results[0]!.errors ?? '', /must not set the field\(s\): spec\.delivery\.timeout/);
    // ... and features it leaves off stay off (delivery-retryafter: disabled).
    broker.spec.delivery.retryAfterMax = 'PT30S';
    assert.match((await validateKnative(JSON.stringify(broker))).results[0]!.errors ?? '', /spec\.delivery\.retryAfterMax/);
  });

  test('the Service pins its cold-start knobs', () => {
    for (const r of ['knative', 'knative/overlays/namespace-scoped', 'knative/overlays/public'] as const) {
      const template = ksvc(r).spec.template;
      const annotations = template.metadata!.annotations!;
      // A new revision starts a pod and proves it ready before traffic moves; no extra hold on scale-down.
      assert.equal(annotations['autoscaling.knative.dev/initial-scale'], '1', r);
      assert.equal(annotations['autoscaling.knative.dev/scale-down-delay'], '0s', r);
      assert.equal(annotations['autoscaling.knative.dev/min-scale'], '0', r);
      assert.equal(template.spec['enableServiceLinks'], false, r);
    }
  });

  test('the Broker delivers through a cold start, then to a dead-letter sink that is deployed with it', () => {
    for (const r of ['knative', 'knative/overlays/namespace-scoped', 'knative/overlays/public', 'knative/overlays/func'] as const) {
      const delivery = one<Broker>(r, 'Broker').spec.delivery!;
      // Every Trigger inherits it: none sets a delivery of its own (Eventing uses the Broker's then).
      for (const t of objects(r).filter((o): o is Trigger => o.kind === 'Trigger')) assert.equal(t.spec.delivery, undefined, `${r} ${t.metadata.name}`);
      // One try may last as long as Knative lets the revision answer: its activator cuts a request
      // at timeoutSeconds, the wait for a pod included. The Broker never cuts a try Knative would finish.
      const timeout = isoSeconds(delivery.timeout!);
      if (r !== 'knative/overlays/func') assert.ok(timeout >= ksvc(r).spec.template.spec.timeoutSeconds!, `${r}: delivery timeout ${timeout} s`);
      assert.equal(delivery.backoffPolicy, 'exponential');
      // Exponential: the n-th retry waits backoffDelay * 2^(n-1) (knative.dev/eventing pkg/kncloudevents).
      const delay = isoSeconds(delivery.backoffDelay!);
      const backoff = Array.from({ length: delivery.retry! }, (_, n) => delay * 2 ** n).reduce((a, b) => a + b, 0);
      // A minute of retries outlasts a start that fails fast, and a kube-apiserver restart.
      assert.ok(backoff >= 60, `${r}: ${backoff} s of backoff`);
      // All tries and waits end before the channel dispatcher gives up on the delivery.
      const worst = (delivery.retry! + 1) * timeout + backoff;
      assert.ok(worst < CHANNEL_DISPATCH_SECONDS, `${r}: worst case ${worst} s`);
      // The sink is in the same rendering: a Service whose selector picks the Deployment's pods, on its container port.
      assert.deepEqual(delivery.deadLetterSink?.ref, { apiVersion: 'v1', kind: 'Service', name: 'podcount-dead-letter' });
      const sink = objects(r).find((o): o is V1Service => o.kind === 'Service' && o.apiVersion === 'v1' && o.metadata.name === 'podcount-dead-letter');
      const deployment = objects(r).find((o): o is Deployment => o.kind === 'Deployment' && o.metadata.name === 'podcount-dead-letter');
      assert.ok(sink && deployment, r);
      const podLabels = deployment.spec.template.metadata!.labels!;
      for (const [k, v] of Object.entries(sink.spec.selector)) assert.equal(podLabels[k], v, `${r}: selector ${k}`);
      for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) assert.equal(podLabels[k], v, `${r}: matchLabels ${k}`);
      const ports = (deployment.spec.template.spec.containers[0]!.ports ?? []) as Array<{ name?: string; containerPort: number }>;
      assert.ok(ports.some((p) => p.name === sink.spec.ports[0]!.targetPort || p.containerPort === sink.spec.ports[0]!.targetPort), `${r}: the sink's targetPort`);
    }
  });

  test('no Trigger can hand podcount its own replies (the Broker loop guard)', () => {
    for (const r of ['knative', 'knative/overlays/namespace-scoped', 'knative/overlays/public'] as const) {
      // The reply type as the function reads it from the environment the manifest gives it.
      const env = Object.fromEntries((ksvc(r).spec.template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
      const { replyType } = loadConfig(env);
      const triggers = objects(r).filter((o): o is Trigger => o.kind === 'Trigger');
      assert.equal(triggers.length, 2, r);
      for (const t of triggers) {
        assert.deepEqual(t.spec.subscriber.ref && [t.spec.subscriber.ref.kind, t.spec.subscriber.ref.name], ['Service', 'podcount']);
        // The newer `filters` would take precedence over `filter`; an empty filter matches every event.
        assert.equal(t.spec.filters, undefined, t.metadata.name);
        const type = t.spec.filter?.attributes?.['type'];
        assert.ok(type, `${r} ${t.metadata.name}: a Trigger without a type filter would match the replies`);
        assert.notEqual(type, replyType, `${r} ${t.metadata.name}`);
      }
      assert.deepEqual(triggers.map((t) => t.spec.filter!.attributes!['type']).sort(), ['dev.knative.sources.ping', 'dev.podcount.count.requested']);
    }
  });

  test('the Service\'s timeouts fit the function\'s own', () => {
    const spec = ksvc('knative').spec.template.spec;
    const config = loadConfig(Object.fromEntries((spec.containers[0]!.env ?? []).map((e) => [e.name, e.value])));
    const timeout = spec.timeoutSeconds!;
    // An API server that hangs gets podcount's 503 (retried by a Broker) before Knative cuts the request.
    assert.ok(timeout * 1000 > config.apiTimeoutMs, `timeoutSeconds ${timeout} vs API timeout ${config.apiTimeoutMs} ms`);
    // timeoutSeconds is also the pod's termination grace: queue-proxy's drain, then podcount's own.
    assert.ok(timeout >= QUEUE_PROXY_DRAIN_SECONDS + config.drainTimeoutMs / 1000, `timeoutSeconds ${timeout} vs drain ${config.drainTimeoutMs} ms`);
  });

  test('every rendering\'s pods carry the annotations a Prometheus or OpenTelemetry collector scrapes by: the container\'s port and /metrics, on', () => {
    // overlays/func has no Service: func makes it from func.yaml (manifests-func.test.ts checks its annotations).
    for (const r of RENDERINGS.filter((x) => x !== 'knative/overlays/func')) {
      const template = ksvc(r).spec.template as PodTemplate & { metadata: { annotations?: Record<string, string> } };
      const a = template.metadata.annotations ?? {};
      const port = template.spec.containers[0]!.ports![0]!.containerPort;
      assert.deepEqual([a['prometheus.io/scrape'], a['prometheus.io/port'], a['prometheus.io/path'], a['prometheus.io/scheme']], ['true', String(port), '/metrics', 'http'], r);
      // What the annotations point at exists in that rendering: /metrics is not switched off.
      const env = new Map((template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
      assert.equal(loadConfig(Object.fromEntries(env)).metrics, true, r);
    }
  });

  test('the CronJob\'s curl sends the request type and gives up before the Job\'s deadline', () => {
    const job = one<CronJob>('knative', 'CronJob').spec.jobTemplate.spec as { activeDeadlineSeconds: number; template: PodTemplate };
    const container = job.template.spec.containers[0] as Container & { args: string[] };
    const script = container.args.join(' ');
    const seconds = (flag: string) => Number(new RegExp(`${flag} (\\d+)`).exec(script)?.[1]);
    // curl starts no retry after --retry-max-time; a try lasts --max-time at most.
    assert.ok(seconds('--retry-max-time') + seconds('--max-time') < job.activeDeadlineSeconds, script);
    assert.match(script, /-H "ce-type: dev\.podcount\.count\.requested"/);
    assert.equal(container.env?.find((e) => e.name === 'TARGET_URL')?.value, 'http://podcount.podcount.svc.cluster.local');
  });

  /** A SubjectAccessReview for the podcount ServiceAccount, answered by the real RBAC authorizer. */
  async function may(verb: string, resource: string, opts: { namespace?: string; group?: string; subresource?: string } = {}): Promise<boolean> {
    const res = await cp.admin.request('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      method: 'POST',
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: SA, groups: ['system:serviceaccounts', 'system:serviceaccounts:podcount', 'system:authenticated'], resourceAttributes: { verb, resource, group: opts.group ?? '', namespace: opts.namespace ?? '', subresource: opts.subresource ?? '' } } },
    });
    assert.equal(res.status, 201, res.text);
    return res.json.status.allowed === true;
  }

  /** `kubectl auth can-i ... --as=<podcount's account>`, as a user would ask it. */
  function canI(...args: string[]): boolean {
    try {
      const out = execFileSync(cp.binaries.kubectl, ['--kubeconfig', cp.kubeconfigPath, 'auth', 'can-i', ...args, `--as=${SA}`], { encoding: 'utf8' });
      assert.match(out, /^yes/);
      return true;
    } catch (err) {
      const out = String((err as { stdout?: string }).stdout ?? '');
      assert.match(out, /^no/, `kubectl auth can-i ${args.join(' ')}: ${out}${String((err as { stderr?: string }).stderr ?? '')}`);
      return false;
    }
  }

  test('base RBAC: list pods everywhere, and nothing else', async () => {
    const rbac = objects('knative').filter((o) => ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind));
    await applyManifests(cp, rbac);
    await createNamespace(cp, 'elsewhere');
    // A new binding reaches the RBAC authorizer's informer cache within moments, not at once.
    await waitFor(() => may('list', 'pods'), { timeoutMs: 10_000, intervalMs: 100, what: 'the ClusterRoleBinding to reach the RBAC authorizer' });
    assert.equal(await may('list', 'pods', { namespace: 'elsewhere' }), true);
    assert.equal(await may('list', 'pods', { namespace: 'podcount' }), true);
    const denied: Array<[string, string, { namespace?: string; group?: string; subresource?: string }]> = [
      ['get', 'pods', {}], ['watch', 'pods', {}], ['create', 'pods', { namespace: 'elsewhere' }], ['delete', 'pods', { namespace: 'elsewhere' }],
      ['update', 'pods', { namespace: 'podcount' }], ['get', 'pods', { subresource: 'log', namespace: 'elsewhere' }], ['create', 'pods', { subresource: 'exec', namespace: 'elsewhere' }],
      ['get', 'secrets', { namespace: 'podcount' }], ['list', 'secrets', {}], ['list', 'configmaps', {}], ['list', 'services', {}],
      ['list', 'deployments', { group: 'apps' }], ['list', 'nodes', {}], ['list', 'namespaces', {}], ['list', 'events', {}],
      ['create', 'serviceaccounts', { subresource: 'token', namespace: 'podcount' }], ['list', 'services', { group: 'serving.knative.dev' }],
      ['create', 'clusterrolebindings', { group: 'rbac.authorization.k8s.io' }],
    ];
    const wrongly = [];
    for (const [verb, resource, o] of denied) if (await may(verb, resource, o)) wrongly.push(`${verb} ${resource}${o.subresource ? `/${o.subresource}` : ''}`);
    assert.deepEqual(wrongly, [], 'granted beyond list pods');
    // The same questions as a user would ask them.
    assert.equal(canI('list', 'pods', '--all-namespaces'), true);
    assert.equal(canI('list', 'pods', '-n', 'elsewhere'), true);
    assert.equal(canI('get', 'pods', '-n', 'elsewhere'), false);
    assert.equal(canI('watch', 'pods', '--all-namespaces'), false);
    assert.equal(canI('list', 'secrets', '--all-namespaces'), false);
    assert.equal(canI('list', 'configmaps', '-n', 'podcount'), false);
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
    assert.equal((await cp.admin.request('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/podcount-pod-lister', { method: 'DELETE' })).status, 200);
    // RBAC changes reach the authorizer's cache within moments.
    const res = await waitFor(async () => {
      const r = await fn.get('/');
      return r.status !== 200 && r;
    }, { timeoutMs: 10_000, intervalMs: 100, what: 'counts to stop once the binding is gone' });
    assert.equal(res.status, 502);
    assert.equal((await res.json() as { error: { code: string } }).error.code, 'forbidden');
  });

  test('namespace-scoped RBAC: list pods in podcount only', async () => {
    // The base binding is gone (previous test); remove its role too and apply the overlay's RBAC.
    await cp.admin.request('/apis/rbac.authorization.k8s.io/v1/clusterroles/podcount-pod-lister', { method: 'DELETE' });
    await cp.admin.request('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/podcount-pod-lister', { method: 'DELETE' });
    await applyManifests(cp, objects('knative/overlays/namespace-scoped').filter((o) => ['Role', 'RoleBinding'].includes(o.kind)));
    // The RBAC authorizer reads from an informer cache: a new binding counts within moments, not
    // at once (it once answered `false` right after the apply on a busy machine).
    await waitFor(() => may('list', 'pods', { namespace: 'podcount' }), { timeoutMs: 10_000, intervalMs: 100, what: 'the RoleBinding to reach the RBAC authorizer' });
    assert.equal(await may('list', 'pods', { namespace: 'elsewhere' }), false);
    assert.equal(await may('list', 'pods'), false, 'not cluster-wide');
    assert.equal(await may('get', 'pods', { namespace: 'podcount' }), false);
    assert.equal(await may('watch', 'pods', { namespace: 'podcount' }), false);
    assert.equal(await may('list', 'secrets', { namespace: 'podcount' }), false);
    assert.equal(canI('list', 'pods', '-n', 'podcount'), true);
    assert.equal(canI('list', 'pods', '-n', 'elsewhere'), false);
    assert.equal(canI('list', 'pods', '--all-namespaces'), false);
  });

  describe('PodSecurity restricted (the namespace enforces it)', () => {
    /** A Pod as Knative or the Job controller would create it from a template. */
    function podFrom(name: string, template: PodTemplate): KubeObject {
      const spec = structuredClone(template.spec);
      // Revision-only fields that Knative turns into queue-proxy settings, not PodSpec fields.
      for (const k of ['containerConcurrency', 'timeoutSeconds', 'responseStartTimeoutSeconds', 'idleTimeoutSeconds']) delete spec[k];
      for (const c of spec.containers) {
        // Knative fills in the container name and the probe port; a Pod needs them.
        c.name ??= 'user-container';
        if (c.readinessProbe?.httpGet && !c.readinessProbe.httpGet.port) c.readinessProbe.httpGet.port = c.ports?.[0]?.containerPort ?? 8080;
      }
      return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'podcount', labels: template.metadata?.labels ?? {} }, spec };
    }
    const servicePod = () => podFrom('podcount-template', ksvc('knative').spec.template);
    const cronPod = () => podFrom('podcount-ping-template', one<CronJob>('knative', 'CronJob').spec.jobTemplate.spec.template);
    const deadLetterPod = () => podFrom('podcount-dead-letter-template', one<Deployment>('knative', 'Deployment').spec.template);

    test('the namespace is labelled to enforce restricted', async () => {
      const ns = await cp.admin.request('/api/v1/namespaces/podcount');
      assert.equal(ns.json.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    });

    test('the Service\'s pod template passes', async () => {
      await applyManifests(cp, [servicePod()], { dryRun: true });
    });

    test('the CronJob\'s pod template passes', async () => {
      await applyManifests(cp, [cronPod()], { dryRun: true });
    });

    test('the dead-letter sink\'s pod template passes', async () => {
      await applyManifests(cp, [deadLetterPod()], { dryRun: true });
    });

    test('non-compliant copies are rejected (the check bites)', async () => {
      const escalating = servicePod() as KubeObject & { spec: PodTemplate['spec'] };
      const sc = escalating.spec.containers[0]!.securityContext!;
      delete sc['runAsNonRoot'];
      delete sc['capabilities'];
      sc['allowPrivilegeEscalation'] = true;
      await assert.rejects(applyManifests(cp, [escalating], { dryRun: true }), /violates PodSecurity "restricted:latest".*allowPrivilegeEscalation != false.*unrestricted capabilities.*runAsNonRoot != true/s);
      // The CronJob's pod sets seccomp and runAsNonRoot at pod level: without them it fails too.
      const cron = cronPod() as KubeObject & { spec: PodTemplate['spec'] };
      delete cron.spec['securityContext'];
      await assert.rejects(applyManifests(cp, [cron], { dryRun: true }), /violates PodSecurity "restricted:latest".*runAsNonRoot != true.*seccompProfile/s);
    });
  });
});
