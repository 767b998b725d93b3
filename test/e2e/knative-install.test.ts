// Knative Serving and Eventing 1.23, installed on the real node from their own config/ YAML with
// images built from their own cmd/ packages (test/knative/install.ts), do their work: a Knative
// Service of the hello image becomes a Ready Revision that answers, scales to zero after its last
// request and answers again through the activator; a CloudEvent posted to a Broker reaches a
// Trigger's subscriber. No ingress exists here (no Knative networking layer can be built), so
// the Route and the Knative Service wait for one, and requests go to the revision's own Service.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { installKnative, type KnativeInstall } from '../knative/install.ts';
import type { NodeCluster } from '../node/node-cluster.ts';
import { waitFor } from '../support/poll.ts';
import { requestFrom, waitForService, type ClientPod } from './client.ts';
import { useNodeCluster } from './cluster-fixture.ts';
import { hostState, namespacesOf, processesIn } from './host-state.ts';
import { clientPod, toYaml } from './workloads.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CLIENT: ClientPod = { namespace: 'e2e-kn-client', name: 'client' };
const HELLO_NS = 'e2e-kn-hello';
const EVENTS_NS = 'e2e-kn-events';
const REVISION = 'hello-00001';
/** The revision's public Service; the activator finds the revision by this Host at zero scale. */
const REVISION_HOST = `${REVISION}.${HELLO_NS}.svc.cluster.local`;
const RESTRICTED = { 'pod-security.kubernetes.io/enforce': 'restricted' };
/** What the restricted Pod Security profile asks of a container (Knative allows it at container level). */
const RESTRICTED_CONTAINER = {
  runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
};

const namespace = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: RESTRICTED } });
const seconds = (ms: number) => Math.round(ms / 100) / 10;

/** Each condition as `Type=Status Reason`, sorted: what a person reads in `kubectl describe`. */
function conditions(o: Obj): string[] {
  return ((o['status']?.conditions ?? []) as Obj[]).map((c) => `${c['type']}=${c['status']}${c['reason'] ? ` ${c['reason']}` : ''}`).sort();
}

function isTrue(o: Obj | undefined, type: string): boolean {
  return ((o?.['status']?.conditions ?? []) as Obj[]).some((c) => c['type'] === type && c['status'] === 'True');
}

async function get(cluster: NodeCluster, path: string): Promise<Obj | undefined> {
  const res = await cluster.admin.request(path);
  return res.status === 200 ? res.json : undefined;
}

/** Waits until the object's conditions are `expected` (they pass through others first); returns it. */
async function settles(cluster: NodeCluster, path: string, expected: string[]): Promise<Obj> {
  let seen: string[] = [];
  return waitFor(async () => {
    const o = await get(cluster, path);
    seen = o ? conditions(o) : ['(absent)'];
    return JSON.stringify(seen) === JSON.stringify(expected) && o;
  }, { timeoutMs: 30_000, intervalMs: 100, what: () => `${path} to have conditions ${expected.join(', ')} (has ${seen.join(', ')})` });
}

/** The revision's pods that exist at all (Terminating ones included). */
async function revisionPods(cluster: NodeCluster): Promise<Obj[]> {
  return (await cluster.admin.must(`/api/v1/namespaces/${HELLO_NS}/pods?labelSelector=${encodeURIComponent(`serving.knative.dev/revision=${REVISION}`)}`)).json.items as Obj[];
}

/** One GET from inside the client pod with a Host header, timed there (kubectl exec is not in the figure). */
async function timedGet(cluster: NodeCluster, url: string, host: string): Promise<{ status: number; ms: number; body: string }> {
  const script = `const t = performance.now();
    require('node:http').get(${JSON.stringify(url)}, { headers: { host: ${JSON.stringify(host)} }, timeout: 60000 }, (res) => {
      let body = ''; res.on('data', (c) => { body += c; });
      res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, ms: performance.now() - t, body })));
    }).on('error', (e) => console.log(JSON.stringify({ status: 0, ms: performance.now() - t, body: String(e) })));`;
  return JSON.parse(await cluster.kubectl(['exec', '-n', CLIENT.namespace, CLIENT.name, '--', '/nodejs/bin/node', '-e', script])) as { status: number; ms: number; body: string };
}

describe('Knative Serving and Eventing installed from their own config on the real node', () => {
  const f = useNodeCluster({ import: ['hello', 'client'] });
  let knative: KnativeInstall;
  const explain = <T>(ns: string, step: () => Promise<T>) => f.explain(ns, step);
  let lastAnswer = 0;
  let nodeNamespaces: string[] = [];

  before(async () => {
    const { cluster, images } = f;
    nodeNamespaces = namespacesOf(cluster.sandbox.initPid);
    knative = await installKnative(cluster, { eventing: true, log: (l) => console.log(l) });
    // Failures now carry every Knative object's conditions and component logs too.
    f.reportWith((ns) => knative.report(ns));
    const t = knative.timings;
    console.log(`knative: install ${t['ready']} s (images ${t['images']} s, imported ${t['imported']} s, CRDs Established ${t['crds']} s, all applied ${t['applied']} s, every Deployment Available ${t['available']} s, webhooks answering ${t['ready']} s)`);
    await explain(CLIENT.namespace, async () => {
      await cluster.apply(toYaml([namespace(CLIENT.namespace), clientPod({ image: images.client.ref, namespace: CLIENT.namespace })]));
      await cluster.kubectl(['-n', CLIENT.namespace, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=60s']);
    });
  });

  // After the fixture's stop() (after hooks run in order): some 20 more pods than the cluster
  // test's, the activator's among them with its 600 s grace period, and nothing of them is left.
  // (Only this cluster's own traces: another cluster may run beside this file.)
  after(() => {
    if (!nodeNamespaces.length) return; // the cluster never came up
    const { cluster } = f;
    assert.deepEqual(processesIn(nodeNamespaces, cluster.dir), [], 'processes of the cluster outlived it');
    const state = hostState();
    assert.deepEqual(state.mounts.filter((m) => m.includes(cluster.dir)), [], 'mounts of the cluster outlived it');
    assert.deepEqual(state.cgroups.filter((c) => c.endsWith(`-${cluster.id}`)), [], 'cgroups of the cluster outlived it');
    assert.equal(state.links.some((l) => l.startsWith(cluster.sandbox.hostLink)), false, 'the node\'s veth outlived it');
  });

  it('installs every Knative workload from the locally built images', () => explain(CLIENT.namespace, async () => {
    const { cluster } = f;
    const refs = new Set(Object.values(knative.images.byImportPath));
    for (const ns of knative.namespaces) {
      const pods = (await cluster.admin.must(`/api/v1/namespaces/${ns}/pods`)).json.items as Obj[];
      assert.ok(pods.length > 0, `pods in ${ns}`);
      for (const p of pods) {
        for (const c of p.spec.containers as Obj[]) assert.ok(refs.has(c['image']), `${ns}/${p.metadata.name} runs ${c['image']}`);
        assert.ok(isTrue(p, 'Ready'), `${ns}/${p.metadata.name} Ready`);
      }
    }
    assert.match(knative.images.queueProxy, /^localhost\/knative-serving-queue:[0-9a-f]{16}$/);
    assert.match(knative.images.eventDisplay, /^localhost\/knative-eventing-event-display:[0-9a-f]{16}$/);
    const config = (await cluster.admin.must('/api/v1/namespaces/knative-serving/configmaps/config-deployment')).json;
    assert.equal(config.data['queue-sidecar-image'], knative.images.queueProxy);
  }));

  it('serves a Knative Service: Configuration and Revision Ready, Route and Service waiting for an ingress', () => explain(HELLO_NS, async () => {
    const { cluster, images } = f;
    const created = performance.now();
    await cluster.apply(toYaml([namespace(HELLO_NS), {
      apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'hello', namespace: HELLO_NS },
      spec: { template: { spec: { containers: [{ image: images.hello.ref, ports: [{ containerPort: 8080 }], securityContext: RESTRICTED_CONTAINER }] } } },
    }]));
    const base = `/apis/serving.knative.dev/v1/namespaces/${HELLO_NS}`;
    const revision = await waitFor(async () => {
      const r = await get(cluster, `${base}/revisions/${REVISION}`);
      return isTrue(r, 'Ready') && isTrue(await get(cluster, `${base}/configurations/hello`), 'Ready') && r;
    }, { timeoutMs: 90_000, intervalMs: 100, what: `Configuration hello and Revision ${REVISION} Ready` });
    const readyIn = seconds(performance.now() - created);
    console.log(`knative: ksvc created -> Configuration and Revision Ready in ${readyIn} s`);
    // Active follows the autoscaler's view (Unknown until it has seen the pod), not part of Ready.
    assert.deepEqual(conditions(revision).filter((c) => !c.startsWith('Active=')), ['ContainerHealthy=True', 'Ready=True', 'ResourcesAvailable=True']);
    // The image was used as named: tag resolution skipped (no registry can answer).
    assert.equal(revision.status.containerStatuses[0].imageDigest, undefined);

    // The networking layer would make the KIngress Ready; without one the Route never is. (They
    // pass through RevisionMissing first, until the Route sees the Ready revision.)
    const route = await settles(cluster, `${base}/routes/hello`, ['AllTrafficAssigned=True', 'CertificateProvisioned=True TLSNotEnabled', 'IngressReady=Unknown IngressNotConfigured', 'Ready=Unknown IngressNotConfigured']);
    assert.equal(route.status.address.url, `http://hello.${HELLO_NS}.svc.cluster.local`);
    assert.deepEqual(route.status.traffic, [{ revisionName: REVISION, latestRevision: true, percent: 100 }]);
    await settles(cluster, `${base}/services/hello`, ['ConfigurationsReady=True', 'Ready=Unknown IngressNotConfigured', 'RoutesReady=Unknown IngressNotConfigured']);
    const kingress = await get(cluster, `/apis/networking.internal.knative.dev/v1alpha1/namespaces/${HELLO_NS}/ingresses/hello`);
    assert.ok(kingress, 'the Route made its KIngress');
    assert.equal(kingress.status?.conditions, undefined, 'no networking layer reconciles the KIngress');

    // The revision's Service answers with the Host the activator resolves.
    await waitForService(cluster, CLIENT, REVISION_HOST);
    const res = await requestFrom(cluster, CLIENT, `http://${REVISION_HOST}/`, { headers: { host: REVISION_HOST } });
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.json, { hello: 'world' });
    lastAnswer = performance.now();
  }));

  it('scales the revision to zero after the last request, then answers from zero through the activator', () => explain(HELLO_NS, async () => {
    const { cluster } = f;
    assert.ok(lastAnswer > 0, 'the previous test answered');
    const deployment = `/apis/apps/v1/namespaces/${HELLO_NS}/deployments/${REVISION}-deployment`;
    await waitFor(async () => (await cluster.admin.must(deployment)).json.spec.replicas === 0, { timeoutMs: 120_000, intervalMs: 100, what: 'the autoscaler to scale the revision to 0' });
    const scaledIn = seconds(performance.now() - lastAnswer);
    await waitFor(async () => (await revisionPods(cluster)).length === 0, { timeoutMs: 120_000, intervalMs: 100, what: `${REVISION}'s pods to be gone` });
    const goneIn = seconds(performance.now() - lastAnswer);
    console.log(`knative: last answer -> replicas 0 in ${scaledIn} s, every pod gone in ${goneIn} s`);

    // At zero the revision's Service leads to the activator.
    const activatorIps = ((await cluster.admin.must('/api/v1/namespaces/knative-serving/pods?labelSelector=app%3Dactivator')).json.items as Obj[]).map((p) => p.status.podIP);
    const slices = (await cluster.admin.must(`/apis/discovery.k8s.io/v1/namespaces/${HELLO_NS}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${REVISION}`)}`)).json.items as Obj[];
    assert.deepEqual(slices.flatMap((s) => (s.endpoints ?? []).flatMap((e: Obj) => e.addresses)), activatorIps);

    const answer = await timedGet(cluster, `http://${REVISION_HOST}/`, REVISION_HOST);
    console.log(`knative: request at zero -> 200 in ${seconds(answer.ms)} s (measured in the client pod)`);
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(JSON.parse(answer.body), { hello: 'world' });
    assert.equal((await revisionPods(cluster)).length, 1, 'one pod started for the request');
  }));

  it('delivers a CloudEvent posted to a Broker to a Trigger\'s subscriber', () => explain(EVENTS_NS, async () => {
    const { cluster } = f;
    const labels = { app: 'event-display' };
    await cluster.apply(toYaml([
      namespace(EVENTS_NS),
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'event-display', namespace: EVENTS_NS },
        spec: {
          replicas: 1, selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              automountServiceAccountToken: false,
              containers: [{
                name: 'event-display', image: knative.images.eventDisplay, imagePullPolicy: 'Never', ports: [{ containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 }, securityContext: RESTRICTED_CONTAINER,
              }],
            },
          },
        },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'event-display', namespace: EVENTS_NS }, spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] } },
      // No class annotation: the webhook gives it the default class, MTChannelBasedBroker.
      { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', metadata: { name: 'default', namespace: EVENTS_NS } },
      {
        apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger', metadata: { name: 'display', namespace: EVENTS_NS },
        spec: { broker: 'default', filter: { attributes: { type: 'dev.podcount.test' } }, subscriber: { ref: { apiVersion: 'v1', kind: 'Service', name: 'event-display' } } },
      },
    ]));
    const created = performance.now();
    const base = `/apis/eventing.knative.dev/v1/namespaces/${EVENTS_NS}`;
    const [broker, trigger] = await waitFor(async () => {
      const [b, t] = [await get(cluster, `${base}/brokers/default`), await get(cluster, `${base}/triggers/display`)];
      return isTrue(b, 'Ready') && isTrue(t, 'Ready') && [b!, t!];
    }, { timeoutMs: 90_000, intervalMs: 100, what: 'Broker default and Trigger display Ready' });
    console.log(`knative: Broker and Trigger Ready ${seconds(performance.now() - created)} s after apply`);
    assert.equal(broker.metadata.annotations['eventing.knative.dev/broker.class'], 'MTChannelBasedBroker');
    const ingress = `http://broker-ingress.knative-eventing.svc.cluster.local/${EVENTS_NS}/default`;
    assert.equal(broker.status.address.url, ingress);
    // The default channel behind an MT broker: an InMemoryChannel of its own.
    const channels = (await cluster.admin.must(`/apis/messaging.knative.dev/v1/namespaces/${EVENTS_NS}/inmemorychannels`)).json.items as Obj[];
    assert.deepEqual(channels.map((c) => [c.metadata.name, c.metadata.ownerReferences[0].kind, isTrue(c, 'Ready')]), [['default-kne-trigger', 'Broker', true]]);
    assert.equal(trigger.status.subscriberUri, `http://event-display.${EVENTS_NS}.svc.cluster.local`);
    console.log(`knative: Broker conditions ${conditions(broker).join(', ')}; Trigger conditions ${conditions(trigger).join(', ')}`);
    await cluster.kubectl(['-n', EVENTS_NS, 'rollout', 'status', 'deployment/event-display', '--timeout=60s']);
    // The Broker delivers to a Service created moments ago: wait until kube-proxy routes it (client.ts).
    await waitForService(cluster, CLIENT, `event-display.${EVENTS_NS}.svc.cluster.local`);

    const id = randomUUID();
    const sent = performance.now();
    const res = await requestFrom(cluster, CLIENT, ingress, {
      method: 'POST', body: JSON.stringify({ hello: 'events' }),
      headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/e2e/knative-install', 'ce-type': 'dev.podcount.test' },
    });
    assert.equal(res.status, 202, res.body);
    const logs = await waitFor(async () => {
      const out = await cluster.kubectl(['-n', EVENTS_NS, 'logs', 'deployment/event-display']);
      return out.includes(`id: ${id}`) && out;
    }, { timeoutMs: 30_000, intervalMs: 200, what: `event ${id} in event-display's log` });
    console.log(`knative: CloudEvent posted -> in event-display's log within ${seconds(performance.now() - sent)} s`);
    assert.match(logs, /type: dev\.podcount\.test/);
    assert.match(logs, /source: \/e2e\/knative-install/);
    assert.match(logs, /"hello": "events"/);
  }));
});
