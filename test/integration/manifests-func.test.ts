// func.yaml (Knative Functions) against what knative/ ships: every value `func deploy` takes from it
// is the one knative/base and components/broker hold; the Knative Service and Trigger func makes
// from it pass Knative's own admission checks and PodSecurity `restricted`; knative/overlays/func
// holds what func needs to exist first and nothing func makes itself.
//
// func's own schema and Go types could not be had here: the Go module proxy refuses knative.dev/func
// (403) and no other registry reachable here carries them. So the format check below lists the
// fields of func's schema/func_yaml-schema.json at specVersion 0.36.0 (read, not copied), and the
// objects func makes are built as func's deployer builds them (knative.dev/func pkg/knative
// deployer.go: generateNewService, setServiceOptions, createTriggers), then checked by Knative.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../../function/config.ts';
import { validateKnative } from '../knative/validator.ts';
import { ControlPlane } from '../support/controlplane.ts';
import { applyManifests, type KubeObject, parseManifests } from '../support/manifests.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

interface Func {
  specVersion: string;
  name: string;
  runtime: string;
  created: string;
  namespace: string;
  image: string;
  run: { envs: Array<{ name: string; value: string }> };
  deploy: {
    serviceAccountName: string;
    annotations: Record<string, string>;
    healthEndpoints: { liveness: string; readiness: string };
    labels: Array<{ key: string; value: string }>;
    options: {
      scale: { min: number; max: number; metric: string; target: number };
      resources: { requests: Record<string, string>; limits: { cpu?: string; memory?: string; concurrency?: number } };
    };
    subscriptions: Array<{ source: string; filters: Record<string, string> }>;
  };
}

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The fields func's schema allows at specVersion 0.36.0 (additionalProperties: false at every level listed). */
const FUNC_FIELDS: Record<string, string[]> = {
  '': ['specVersion', 'name', 'domain', 'runtime', 'registry', 'image', 'namespace', 'created', 'invoke', 'build', 'run', 'deploy'],
  run: ['volumes', 'envs', 'startTimeout'],
  deploy: ['namespace', 'image', 'annotations', 'options', 'labels', 'healthEndpoints', 'serviceAccountName', 'subscriptions'],
  'deploy.healthEndpoints': ['liveness', 'readiness'],
  'deploy.options': ['scale', 'resources'],
  'deploy.options.scale': ['min', 'max', 'metric', 'target', 'utilization'],
  'deploy.options.resources': ['requests', 'limits'],
  'deploy.options.resources.requests': ['cpu', 'memory'],
  'deploy.options.resources.limits': ['cpu', 'memory', 'concurrency'],
};

/** The Knative Service `func deploy --image IMAGE` creates from f (func also adds Dapr annotations, which Knative ignores). */
function serviceFromFunc(f: Func, image: string): Obj {
  const labels = Object.fromEntries(f.deploy.labels.map((l) => [l.key, l.value]));
  const { scale, resources } = f.deploy.options;
  const { concurrency, ...limits } = resources.limits;
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: f.name, namespace: f.namespace, labels, annotations: f.deploy.annotations },
    spec: {
      template: {
        metadata: {
          labels,
          // deploy.annotations on the Service and the revision; then Go's %d and %f, as setServiceOptions formats them.
          annotations: {
            ...f.deploy.annotations,
            'autoscaling.knative.dev/min-scale': String(scale.min),
            'autoscaling.knative.dev/max-scale': String(scale.max),
            'autoscaling.knative.dev/metric': scale.metric,
            'autoscaling.knative.dev/target': scale.target.toFixed(6),
          },
        },
        spec: {
          serviceAccountName: f.deploy.serviceAccountName,
          ...(concurrency === undefined ? {} : { containerConcurrency: concurrency }),
          containers: [{
            image,
            securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
            livenessProbe: { httpGet: { path: f.deploy.healthEndpoints.liveness } },
            readinessProbe: { httpGet: { path: f.deploy.healthEndpoints.readiness } },
            // func adds BUILT (a timestamp) first and ADDRESS=0.0.0.0 last.
            env: [{ name: 'BUILT', value: '20261124T000000' }, ...f.run.envs, { name: 'ADDRESS', value: '0.0.0.0' }],
            resources: { requests: resources.requests, limits },
          }],
        },
      },
    },
  };
}

/** The Trigger func creates for each subscription: no delivery of its own. */
function triggersFromFunc(f: Func): Obj[] {
  return f.deploy.subscriptions.map((sub, i) => ({
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Trigger',
    metadata: { name: `${f.name}-function-trigger-${i}`, namespace: f.namespace },
    spec: { broker: sub.source, subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: f.name } }, filter: { attributes: sub.filters } },
  }));
}

describe('func.yaml: podcount for Knative Functions', () => {
  let cp: ControlPlane;
  let raw: Obj;
  let f: Func;
  let knative: KubeObject[];
  let prerequisites: KubeObject[];
  let ksvc: Obj;

  before(async () => {
    cp = await ControlPlane.start();
    raw = parse(readFileSync(join(ROOT, 'func.yaml'), 'utf8')) as Obj;
    f = raw as Func;
    const render = (dir: string) => parseManifests(execFileSync(cp.binaries.kubectl, ['kustomize', join(ROOT, dir)], { encoding: 'utf8' }));
    knative = render('knative');
    prerequisites = render('knative/overlays/func');
    ksvc = knative.find((o) => o.kind === 'Service' && o.apiVersion === 'serving.knative.dev/v1')!;
  });

  after(async () => {
    await cp?.stop();
  });

  test('is in func\'s format: the fields func\'s schema defines, and the required ones', () => {
    const unknown: string[] = [];
    for (const [path, allowed] of Object.entries(FUNC_FIELDS)) {
      const node = path === '' ? raw : path.split('.').reduce<Obj | undefined>((o, k) => o?.[k], raw);
      for (const key of Object.keys(node ?? {})) if (!allowed.includes(key)) unknown.push(path ? `${path}.${key}` : key);
    }
    assert.deepEqual(unknown, []);
    assert.equal(f.specVersion, '0.36.0');
    assert.ok(!Number.isNaN(Date.parse(f.created)), `created ${f.created}`);
    assert.match(f.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.ok(['typescript', 'node'].includes(f.runtime));
  });

  test('deploys what knative/ ships: name, namespace, image, account, probes, scale, resources, env, visibility, scrape annotations, subscription', () => {
    const template = ksvc['spec'].template;
    const container = template.spec.containers[0];
    const annotations = template.metadata.annotations as Record<string, string>;
    assert.equal(f.name, ksvc['metadata'].name);
    assert.equal(f.namespace, ksvc['metadata'].namespace);
    // The image knative/base's kustomization substitutes for `podcount`.
    assert.equal(f.image, container.image);
    assert.equal(f.deploy.serviceAccountName, template.spec.serviceAccountName);
    assert.equal(f.deploy.healthEndpoints.readiness, container.readinessProbe.httpGet.path);
    assert.equal(f.deploy.healthEndpoints.liveness, '/healthz', 'the one endpoint that never calls the API server');
    const { scale, resources } = f.deploy.options;
    assert.deepEqual([scale.min, scale.max, scale.target], ['min-scale', 'max-scale', 'target'].map((k) => Number(annotations[`autoscaling.knative.dev/${k}`])));
    assert.deepEqual(resources.requests, container.resources.requests);
    assert.deepEqual({ memory: resources.limits.memory }, container.resources.limits);
    assert.equal(resources.limits.concurrency, template.spec.containerConcurrency);
    assert.deepEqual(f.run.envs, container.env);
    // The scrape annotations (knative/base's only annotations that are not autoscaling's).
    assert.deepEqual(f.deploy.annotations, Object.fromEntries(Object.entries(annotations).filter(([k]) => k.startsWith('prometheus.io/'))));
    const visibility = f.deploy.labels.find((l) => l.key === 'networking.knative.dev/visibility');
    assert.equal(visibility?.value, ksvc['metadata'].labels['networking.knative.dev/visibility']);
    const trigger = knative.find((o) => o.kind === 'Trigger' && o.metadata.name === 'podcount-count-requested') as Obj;
    assert.deepEqual(f.deploy.subscriptions, [{ source: trigger['spec'].broker, filters: trigger['spec'].filter.attributes }]);
  });

  test('knative/overlays/func holds what func needs first (its account, the Broker), and nothing func makes', () => {
    const names = prerequisites.map((o) => `${o.kind}/${o.metadata.name}`);
    assert.ok(names.includes(`ServiceAccount/${f.deploy.serviceAccountName}`), 'func deploy refuses an account that does not exist');
    assert.ok(names.includes('ClusterRoleBinding/podcount-pod-lister'));
    for (const sub of f.deploy.subscriptions) assert.ok(names.includes(`Broker/${sub.source}`), `the subscription's Broker ${sub.source}`);
    assert.ok(names.includes('Deployment/podcount-dead-letter'));
    assert.deepEqual(prerequisites.filter((o) => o.apiVersion === 'serving.knative.dev/v1' || o.kind === 'Trigger'), []);
    assert.ok(prerequisites.every((o) => o.kind === 'Namespace' || o.kind.startsWith('Cluster') || o.metadata.namespace === f.namespace));
  });

  test('the Knative Service and Trigger func makes from it pass Knative\'s own admission checks', async () => {
    const objects = [serviceFromFunc(f, f.image), ...triggersFromFunc(f)];
    const { ok, results } = await validateKnative(objects.map((o) => JSON.stringify(o)).join('\n---\n'));
    assert.ok(ok, JSON.stringify(results));
    assert.deepEqual(results.map((r) => `${r.kind}/${r.name}`), ['Service/podcount', 'Trigger/podcount-function-trigger-0']);
    assert.deepEqual(results.filter((r) => r.warnings), []);
    // func's Trigger sets no delivery: the Broker's applies. Its filter cannot match podcount's replies.
    assert.equal(objects[1]!['spec'].delivery, undefined);
    assert.ok(prerequisites.some((o) => o.kind === 'Broker' && (o as Obj)['spec'].delivery?.deadLetterSink));
    assert.notEqual(f.deploy.subscriptions[0]!.filters['type'], loadConfig(Object.fromEntries(f.run.envs.map((e) => [e.name, e.value]))).replyType);
  });

  test('Knative refuses what a bad func.yaml would make: scale bounds, target, metric, a reserved variable', async () => {
    const broken = (change: (g: Func) => void) => {
      const g = structuredClone(f);
      change(g);
      return JSON.stringify(serviceFromFunc(g, g.image));
    };
    const cases: Array<[string, string, RegExp]> = [
      ['min above max', broken((g) => { g.deploy.options.scale.min = 6; }), /max-scale=5 is less than min-scale=6/],
      ['a target of zero', broken((g) => { g.deploy.options.scale.target = 0; }), /autoscaling\.knative\.dev\/target/],
      ['a metric the KPA does not know', broken((g) => { g.deploy.options.scale.metric = 'cpu'; }), /autoscaling\.knative\.dev\/metric/],
      ['a reserved env var', broken((g) => { g.run.envs.push({ name: 'K_SERVICE', value: 'x' }); }), /"K_SERVICE" is a reserved environment variable/],
    ];
    for (const [what, yaml, message] of cases) {
      const { ok, results } = await validateKnative(yaml);
      assert.equal(ok, false, what);
      assert.match(results[0]!.errors ?? '', message, what);
    }
  });

  test('the pod of that Service passes PodSecurity restricted in the namespace overlays/func makes', async () => {
    await applyManifests(cp, prerequisites.filter((o) => o.kind === 'Namespace'));
    const template = serviceFromFunc(f, f.image)['spec'].template;
    const spec = structuredClone(template.spec);
    delete spec.containerConcurrency;
    // Knative names the container and points the probes at the user port.
    spec.containers[0].name = 'user-container';
    for (const p of ['livenessProbe', 'readinessProbe']) spec.containers[0][p].httpGet.port = 8080;
    spec.containers[0].ports = [{ containerPort: 8080 }];
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'podcount-func-template', namespace: f.namespace, labels: template.metadata.labels }, spec };
    await applyManifests(cp, [pod as KubeObject], { dryRun: true });
  });
});
