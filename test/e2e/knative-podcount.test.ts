// podcount as Knative runs it, on the real node: Knative Serving and Eventing 1.23 built from
// their own commands and config (test/knative/install.ts), the shipped knative/ applied with
// `kubectl apply -k` (images substituted, plus the patches in knative-overlay/: no ingress exists
// here, so callers use the revision's Service, which Knative's activator answers at zero scale).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { installKnative, type KnativeInstall } from '../knative/install.ts';
import type { NodeCluster } from '../node/node-cluster.ts';
import { waitFor } from '../support/poll.ts';
import { parseMetrics, sample } from '../support/prometheus.ts';
import { concurrentRequestsFrom, requestFrom, waitForService, type ClientPod } from './client.ts';
import { useNodeCluster } from './cluster-fixture.ts';
import { deployPodcount, revisionReady, runPingJob } from './knative-podcount.ts';
import { countMatchesTruth, truth } from './truth.ts';
import { clientPod, toYaml } from './workloads.ts';

const CLIENT: ClientPod = { namespace: 'e2e-client', name: 'client' };
/** The revision's Service: what the activator (at zero) or the pods answer, by this Host. */
const revisionUrl = (namespace = 'podcount') => `http://podcount-00001.${namespace}.svc.cluster.local`;
const REVISION = 'serving.knative.dev/revision=podcount-00001';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function revisionPods(cluster: NodeCluster, namespace = 'podcount'): Promise<Obj[]> {
  const pods = (await cluster.admin.must(`/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(REVISION)}`)).json.items as Obj[];
  return pods.filter((p) => !p.metadata.deletionTimestamp);
}

function condition(o: Obj, type: string): Obj | undefined {
  return (o['status']?.conditions as Obj[] | undefined)?.find((c) => c['type'] === type);
}

async function knative(cluster: NodeCluster, path: string): Promise<Obj> {
  return (await cluster.admin.must(path)).json as Obj;
}

/**
 * The CloudEvents an event_display Deployment (the tests' recorder of replies, or the shipped
 * dead-letter sink) printed so far, as {attributes, data}; attributes include the extensions.
 */
async function recorded(cluster: NodeCluster, deployment = 'e2e-recorder'): Promise<Array<{ attributes: Record<string, string>; data: Obj | undefined }>> {
  const logs = await cluster.kubectl(['-n', 'podcount', 'logs', `deployment/${deployment}`]);
  return logs.split(/☁️\s+cloudevents\.Event/).slice(1).map((block) => {
    const attributes: Record<string, string> = {};
    for (const m of block.matchAll(/^\s{2}([a-z0-9]+): (.*)$/gm)) attributes[m[1]!] ??= m[2]!.trim();
    const json = /Data,\s*\n([\s\S]*)$/.exec(block)?.[1]?.trim();
    let data: Obj | undefined;
    try {
      data = json ? (JSON.parse(json) as Obj) : undefined;
    } catch {
      data = undefined;
    }
    return { attributes, data };
  });
}

describe('podcount as a Knative Service on a real node', () => {
  const f = useNodeCluster({ import: ['podcount', 'client', 'curl'] });
  let kn: KnativeInstall;
  const explain = <T>(ns: string, step: () => Promise<T>) => f.explain(ns, step);

  before(() => explain('podcount', async () => {
    const { cluster, images } = f;
    kn = await installKnative(cluster, { eventing: true });
    // Failures now carry every Knative object's conditions and component logs too.
    f.reportWith((ns) => kn.report(ns));
    await deployPodcount(cluster, { podcountImage: images.podcount.ref, curlImage: images.curl.ref, eventDisplayImage: kn.images.eventDisplay });
    // A recorder for the replies: event_display behind a Trigger on the reply type.
    await cluster.apply(toYaml([
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'e2e-recorder', namespace: 'podcount' },
        spec: {
          selector: { matchLabels: { app: 'e2e-recorder' } },
          template: {
            metadata: { labels: { app: 'e2e-recorder' } },
            spec: {
              securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [{ name: 'recorder', image: kn.images.eventDisplay, imagePullPolicy: 'Never', ports: [{ containerPort: 8080 }], securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } } }],
            },
          },
        },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'e2e-recorder', namespace: 'podcount' }, spec: { selector: { app: 'e2e-recorder' }, ports: [{ port: 80, targetPort: 8080 }] } },
      {
        apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger', metadata: { name: 'e2e-recorder', namespace: 'podcount' },
        spec: { broker: 'default', filter: { attributes: { type: 'dev.podcount.pods.counted' } }, subscriber: { ref: { apiVersion: 'v1', kind: 'Service', name: 'e2e-recorder' } } },
      },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CLIENT.namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } },
      clientPod({ image: images.client.ref, namespace: CLIENT.namespace }),
    ]));
    await cluster.kubectl(['-n', CLIENT.namespace, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=60s']);
    for (const d of ['e2e-recorder', 'podcount-dead-letter']) await cluster.kubectl(['-n', 'podcount', 'rollout', 'status', `deployment/${d}`, '--timeout=90s']);
    await revisionReady(cluster, 'podcount');
    for (const t of ['podcount-count-requested', 'podcount-ping', 'e2e-recorder']) {
      await waitFor(async () => condition(await knative(cluster, `/apis/eventing.knative.dev/v1/namespaces/podcount/triggers/${t}`), 'Ready')?.['status'] === 'True',
        { timeoutMs: 120_000, intervalMs: 250, what: `Trigger ${t} Ready` });
    }
    // Services created moments ago, which the Broker and the tests call: wait until kube-proxy routes them.
    for (const host of ['podcount-00001.podcount.svc.cluster.local', 'e2e-recorder.podcount.svc.cluster.local']) await waitForService(cluster, CLIENT, host);
  }));

  it('runs the revision: Configuration and Revision Ready, podcount beside queue-proxy under ServiceAccount podcount, admitted by the restricted profile', () => explain('podcount', async () => {
    const { cluster } = f;
    const ksvc = await knative(cluster, '/apis/serving.knative.dev/v1/namespaces/podcount/services/podcount');
    assert.equal(condition(ksvc, 'ConfigurationsReady')?.['status'], 'True');
    // Without an ingress the Route cannot be Ready: exactly that, and nothing else, holds the ksvc back.
    assert.equal(condition(ksvc, 'RoutesReady')?.['status'], 'Unknown');
    assert.equal(condition(ksvc, 'RoutesReady')?.['reason'], 'IngressNotConfigured');
    const revision = await knative(cluster, '/apis/serving.knative.dev/v1/namespaces/podcount/revisions/podcount-00001');
    assert.equal(condition(revision, 'Ready')?.['status'], 'True');
    const ns = await knative(cluster, '/api/v1/namespaces/podcount');
    assert.equal(ns['metadata'].labels['pod-security.kubernetes.io/enforce'], 'restricted');
    await concurrentRequestsFrom(cluster, CLIENT, `${revisionUrl()}/healthz`, 1);
    const [pod] = await waitFor(async () => {
      const pods = await revisionPods(cluster);
      return pods.length === 1 && pods[0]!['status'].phase === 'Running' ? pods : undefined;
    }, { timeoutMs: 60_000, what: 'a running revision pod' });
    assert.equal(pod!['spec'].serviceAccountName, 'podcount');
    assert.deepEqual((pod!['spec'].containers as Obj[]).map((c) => c['name']).sort(), ['podcount', 'queue-proxy']);
  }));

  it('answers curl from a client pod with the API truth, Knative\'s own pods included', () => explain('podcount', async () => {
    const { cluster } = f;
    const knativePods = await truth(cluster, { namespace: 'knative-serving' });
    assert.ok(knativePods >= 4, `Knative Serving runs ${knativePods} pods`);
    const count = await countMatchesTruth(cluster, CLIENT, revisionUrl());
    assert.ok(count > knativePods);
    const text = await requestFrom(cluster, CLIENT, `${revisionUrl()}/?namespace=knative-serving`, { headers: { accept: 'text/plain' } });
    assert.equal(text.status, 200);
    assert.match(text.body, /^There are \d+ pods in namespace "knative-serving"\n$/);
  }));

  it('is scraped as an annotation-driven Prometheus finds it: the pod\'s prometheus.io annotations lead to Prometheus text of what it served, past queue-proxy', () => explain('podcount', async () => {
    const { cluster } = f;
    const [answer] = await concurrentRequestsFrom(cluster, CLIENT, `${revisionUrl()}/`, 1);
    assert.equal(answer!.status, 200, answer!.body);
    const [pod] = await waitFor(async () => {
      const pods = await revisionPods(cluster);
      return pods.length === 1 && pods[0]!['status'].phase === 'Running' && pods[0]!['status'].podIP ? pods : undefined;
    }, { timeoutMs: 60_000, what: 'a running revision pod with an IP' });
    // What the kubernetes-pods job (or a Collector's prometheus receiver) reads off the pod Knative made.
    const a = pod!['metadata'].annotations as Record<string, string>;
    assert.equal(a['prometheus.io/scrape'], 'true');
    const scrape = await requestFrom(cluster, CLIENT, `${a['prometheus.io/scheme']}://${pod!['status'].podIP}:${a['prometheus.io/port']}${a['prometheus.io/path']}`);
    assert.equal(scrape.status, 200, scrape.body);
    const m = parseMetrics(scrape.body);
    assert.ok(sample(m, 'podcount_invocations_total', { status: '200', strategy: 'remainingItemCount' }) >= 1, scrape.body);
    assert.ok(sample(m, 'podcount_start_to_ready_seconds') > 0, scrape.body);
    assert.equal(sample(m, 'podcount_last_count', { scope: 'cluster' }), (JSON.parse(answer!.body) as { count: number }).count);
  }));

  it('scales to zero after the last request, and answers the next one with the right count through the activator', () => explain('podcount', async () => {
    const { cluster } = f;
    const started = performance.now();
    await waitFor(async () => (await revisionPods(cluster)).length === 0, { timeoutMs: 180_000, intervalMs: 500, what: 'the revision to scale to zero' });
    console.log(`# scaled to zero ${((performance.now() - started) / 1000).toFixed(1)} s after the previous test's last request`);
    const deployment = await knative(cluster, '/apis/apps/v1/namespaces/podcount/deployments/podcount-00001-deployment');
    assert.equal(deployment['spec'].replicas, 0);
    const before = await truth(cluster);
    const [answer] = await concurrentRequestsFrom(cluster, CLIENT, `${revisionUrl()}/`, 1);
    assert.equal(answer!.status, 200, answer!.body);
    // The pod that answered is itself one of the pods: started since `before` was read.
    const count = (JSON.parse(answer!.body) as { count: number }).count;
    assert.ok(count === before + 1 || count === before, `counted ${count}, the API server held ${before} before the revision scaled up`);
    assert.equal(count, await truth(cluster));
    console.log(`# from zero: request -> answer ${answer!.ms.toFixed(0)} ms`);
  }));

  it('answers a burst of concurrent requests at zero scale, none dropped', () => explain('podcount', async () => {
    const { cluster } = f;
    await waitFor(async () => (await revisionPods(cluster)).length === 0, { timeoutMs: 180_000, intervalMs: 500, what: 'the revision to scale to zero' });
    const answers = await concurrentRequestsFrom(cluster, CLIENT, `${revisionUrl()}/`, 20);
    const now = await truth(cluster);
    for (const a of answers) {
      assert.equal(a.status, 200, a.body);
      assert.equal((JSON.parse(a.body) as { count: number }).count, now);
    }
    console.log(`# 20 requests at zero: slowest ${Math.max(...answers.map((a) => a.ms)).toFixed(0)} ms`);
  }));

  it('counts a CloudEvent from the Broker and replies through it; the reply does not re-trigger podcount', () => explain('podcount', async () => {
    const { cluster } = f;
    const id = `e2e-${randomUUID()}`;
    const sent = await requestFrom(cluster, CLIENT, 'http://broker-ingress.knative-eventing.svc.cluster.local/podcount/default', {
      method: 'POST',
      headers: { 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/e2e/client', 'ce-type': 'dev.podcount.count.requested', 'content-type': 'application/json' },
      body: JSON.stringify({ namespace: 'kube-system' }),
    });
    assert.equal(sent.status, 202, sent.body);
    const reply = await waitFor(async () => (await recorded(cluster)).find((e) => e.data?.['inResponseTo']?.id === id), { timeoutMs: 120_000, intervalMs: 500, what: `the reply to ${id} at the recorder` });
    assert.equal(reply.attributes['type'], 'dev.podcount.pods.counted');
    assert.equal(reply.attributes['source'], '/apis/serving.knative.dev/v1/namespaces/podcount/services/podcount');
    assert.equal(reply.data!['count'], await truth(cluster, { namespace: 'kube-system' }));
    assert.deepEqual(reply.data!['inResponseTo'], { id, source: '/e2e/client', type: 'dev.podcount.count.requested' });
    // podcount's own log: one invocation for the event, none for its reply.
    const logs = await cluster.kubectl(['-n', 'podcount', 'logs', '-l', REVISION, '-c', 'podcount', '--tail=-1']);
    const invocations = logs.split('\n').filter((l) => l.includes('"msg":"invocation"')).map((l) => JSON.parse(l) as Obj);
    assert.equal(invocations.filter((l) => l['eventId'] === id).length, 1);
    assert.equal(invocations.filter((l) => l['eventType'] === 'dev.podcount.pods.counted').length, 0);
    // The reply, through the Broker, continues the trace of podcount's invocation: its span is the reply's parent.
    const invocation = invocations.find((l) => l['eventId'] === id)!;
    assert.match(reply.attributes['traceparent'] ?? '', new RegExp(`^00-${String(invocation['traceId'])}-${String(invocation['spanId'])}-[0-9a-f]{2}$`), JSON.stringify(reply.attributes));
  }));

  it('hands an event podcount refuses (400) to the shipped dead-letter sink with Knative\'s error extensions, and still counts good ones', () => explain('podcount', async () => {
    const { cluster } = f;
    const send = (id: string, data: Obj) => requestFrom(cluster, CLIENT, 'http://broker-ingress.knative-eventing.svc.cluster.local/podcount/default', {
      method: 'POST',
      headers: { 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/e2e/client', 'ce-type': 'dev.podcount.count.requested', 'content-type': 'application/json' },
      body: JSON.stringify(data),
    });
    const bad = `e2e-bad-${randomUUID()}`;
    const good = `e2e-good-${randomUUID()}`;
    // Not a namespace name: podcount answers 400, which the Broker does not retry.
    assert.equal((await send(bad, { namespace: 'Not_A_Namespace' })).status, 202);
    assert.equal((await send(good, { namespace: 'kube-system' })).status, 202);
    const dead = await waitFor(async () => (await recorded(cluster, 'podcount-dead-letter')).find((e) => e.attributes['id'] === bad),
      { timeoutMs: 120_000, intervalMs: 500, what: `${bad} at the dead-letter sink` });
    // The event as sent, with Eventing's account of why it could not be delivered, and where to.
    assert.equal(dead.attributes['type'], 'dev.podcount.count.requested');
    assert.deepEqual(dead.data, { namespace: 'Not_A_Namespace' });
    assert.equal(dead.attributes['knativeerrorcode'], '400');
    assert.ok(dead.attributes['knativeerrordest']?.startsWith(revisionUrl()), `knativeerrordest ${dead.attributes['knativeerrordest']}`);
    const answer = JSON.parse(Buffer.from(dead.attributes['knativeerrordata']!, 'base64').toString('utf8')) as Obj;
    assert.equal(answer['error'].code, 'bad_namespace');
    // The good event was counted and answered; it never reached the sink.
    const reply = await waitFor(async () => (await recorded(cluster)).find((e) => e.data?.['inResponseTo']?.id === good), { timeoutMs: 120_000, intervalMs: 500, what: `the reply to ${good} at the recorder` });
    assert.equal(reply.data!['count'], await truth(cluster, { namespace: 'kube-system' }));
    assert.equal((await recorded(cluster, 'podcount-dead-letter')).filter((e) => e.attributes['id'] === good).length, 0);
    // podcount saw the bad one once (a 400 is not retried) and said why.
    const logs = await cluster.kubectl(['-n', 'podcount', 'logs', '-l', REVISION, '-c', 'podcount', '--tail=-1']);
    const refused = logs.split('\n').filter((l) => l.includes('"msg":"invocation"')).map((l) => JSON.parse(l) as Obj).filter((l) => l['eventId'] === bad);
    assert.deepEqual(refused.map((l) => [l['status'], l['error']]), [[400, 'bad_namespace']]);
  }));

  it('counts on every PingSource tick and replies through the Broker', () => explain('podcount', async () => {
    const { cluster } = f;
    const reply = await waitFor(async () => (await recorded(cluster)).find((e) => e.data?.['inResponseTo']?.type === 'dev.knative.sources.ping'),
      { timeoutMs: 150_000, intervalMs: 1000, what: 'a reply to a PingSource tick at the recorder' });
    assert.equal(reply.data!['inResponseTo'].source, '/apis/v1/namespaces/podcount/pingsources/podcount-ping');
    assert.equal(typeof reply.data!['count'], 'number');
    assert.equal(reply.data!['scope'], 'cluster');
  }));

  it('runs the CronJob: a Job from cronjob/podcount-ping succeeds and logs the reply', () => explain('podcount', async () => {
    const { cluster } = f;
    const logs = await runPingJob(cluster, 'e2e-ping-now');
    assert.match(logs, /^HTTP\/1\.1 200/m);
    assert.match(logs, /^ce-type: dev\.podcount\.pods\.counted/im);
    assert.match(logs, /"inResponseTo":\{"id":"[^"]+","source":"\/apis\/batch\/v1\/namespaces\/podcount\/cronjobs\/podcount-ping","type":"dev\.podcount\.count\.requested"\}/);
  }));

  it('in the namespace-scoped overlay, counts only its namespace and refuses cluster-wide asks', () => explain('podcount-scoped', async () => {
    const { cluster, images } = f;
    const t0 = performance.now();
    await deployPodcount(cluster, { podcountImage: images.podcount.ref, curlImage: images.curl.ref, eventDisplayImage: kn.images.eventDisplay, variant: 'overlays/namespace-scoped', namespace: 'podcount-scoped' });
    await revisionReady(cluster, 'podcount-scoped');
    const t1 = performance.now();
    await waitForService(cluster, CLIENT, 'podcount-00001.podcount-scoped.svc.cluster.local');
    console.log(`# namespace-scoped: applied -> Revision Ready ${((t1 - t0) / 1000).toFixed(1)} s, -> its Service routed ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    const url = revisionUrl('podcount-scoped');
    const own = await requestFrom(cluster, CLIENT, `${url}/`);
    assert.equal(own.status, 200, own.body);
    assert.equal(own.json.scope, 'namespace');
    assert.equal(own.json.namespace, 'podcount-scoped');
    assert.equal(own.json.count, await truth(cluster, { namespace: 'podcount-scoped' }));
    const other = await requestFrom(cluster, CLIENT, `${url}/?namespace=kube-system`);
    assert.equal(other.status, 400);
    assert.equal(other.json.error.code, 'namespace_not_allowed');
    // No cluster-wide grant exists for it: the API server itself would refuse.
    const review = await cluster.admin.must('/apis/authorization.k8s.io/v1/subjectaccessreviews', { method: 'POST', body: {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: { user: 'system:serviceaccount:podcount-scoped:podcount', groups: ['system:serviceaccounts', 'system:authenticated'], resourceAttributes: { verb: 'list', resource: 'pods' } },
    } });
    assert.equal(review.json.status.allowed, false);
  }));
});
