// Caller authentication on the real node: knative/overlays/public (caller-auth on, /diagnostics
// off) applied with `kubectl apply -k` on Knative, and callers with real tokens: the CronJob's
// token that the kubelet projects for audience "podcount", tokens from the TokenRequest API for
// other audiences, and a caller whose grant covers one namespace.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { installKnative } from '../knative/install.ts';
import { requestFrom, waitForService, type ClientPod } from './client.ts';
import { useNodeCluster } from './cluster-fixture.ts';
import { deployPodcount, revisionReady, runPingJob } from './knative-podcount.ts';
import { truth } from './truth.ts';
import { clientPod, toYaml } from './workloads.ts';

const CLIENT: ClientPod = { namespace: 'e2e-client', name: 'client' };
const URL = 'http://podcount-00001.podcount.svc.cluster.local';

describe('caller authentication on a real node (overlays/public)', () => {
  const f = useNodeCluster({ import: ['podcount', 'client', 'curl'] });
  const explain = <T>(ns: string, step: () => Promise<T>) => f.explain(ns, step);
  /** A token of `account` in the client's namespace for `audience`, from the TokenRequest API. */
  const token = (account: string, audience: string) =>
    f.cluster.kubectl(['create', 'token', account, '-n', CLIENT.namespace, `--audience=${audience}`, '--duration=10m']).then((t) => t.trim());

  before(() => explain('podcount', async () => {
    const { cluster, images } = f;
    const kn = await installKnative(cluster, { eventing: true });
    f.reportWith((ns) => kn.report(ns));
    await deployPodcount(cluster, { podcountImage: images.podcount.ref, curlImage: images.curl.ref, eventDisplayImage: kn.images.eventDisplay, variant: 'overlays/public' });
    await cluster.apply(toYaml([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CLIENT.namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } },
      clientPod({ image: images.client.ref, namespace: CLIENT.namespace }),
      // A caller that may list pods in its own namespace only.
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: CLIENT.namespace } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pod-lister', namespace: CLIENT.namespace }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reader-lists-pods', namespace: CLIENT.namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-lister' }, subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: CLIENT.namespace }] },
    ]));
    await cluster.kubectl(['-n', CLIENT.namespace, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=60s']);
    await revisionReady(cluster, 'podcount');
    await waitForService(cluster, CLIENT, 'podcount-00001.podcount.svc.cluster.local');
  }));

  it('accepts the CronJob\'s token, projected by the kubelet for audience podcount, end to end', () => explain('podcount', async () => {
    const { cluster } = f;
    const logs = await runPingJob(cluster, 'e2e-ping-auth');
    assert.match(logs, /^HTTP\/1\.1 200/m);
    assert.match(logs, /^ce-type: dev\.podcount\.pods\.counted/im);
    // podcount logged who asked; the token itself appears nowhere in its log.
    const podcountLogs = await cluster.kubectl(['-n', 'podcount', 'logs', '-l', 'serving.knative.dev/revision=podcount-00001', '-c', 'podcount', '--tail=-1']);
    assert.match(podcountLogs, /"user":"system:serviceaccount:podcount:podcount-ping"/);
    assert.doesNotMatch(podcountLogs, /eyJ[A-Za-z0-9_-]{20,}/);
  }));

  it('refuses callers without a token or with a token for another audience (401), and has /diagnostics off', () => explain('podcount', async () => {
    const { cluster } = f;
    const none = await requestFrom(cluster, CLIENT, `${URL}/`);
    assert.equal(none.status, 401, none.body);
    assert.equal(none.json.error.code, 'caller_unauthenticated');
    const apiAudience = await requestFrom(cluster, CLIENT, `${URL}/`, { headers: { authorization: `Bearer ${await token('reader', 'https://kubernetes.default.svc.cluster.local')}` } });
    assert.equal(apiAudience.status, 401, apiAudience.body);
    const diagnostics = await requestFrom(cluster, CLIENT, `${URL}/diagnostics`, { headers: { authorization: `Bearer ${await token('reader', 'podcount')}` } });
    assert.equal(diagnostics.status, 404, diagnostics.body);
  }));

  it('answers a caller exactly what it may list itself: its namespace, not the cluster', () => explain('podcount', async () => {
    const { cluster } = f;
    const auth = { authorization: `Bearer ${await token('reader', 'podcount')}` };
    const own = await requestFrom(cluster, CLIENT, `${URL}/?namespace=${CLIENT.namespace}`, { headers: auth });
    assert.equal(own.status, 200, own.body);
    assert.equal(own.json.count, await truth(cluster, { namespace: CLIENT.namespace }));
    const cluster_ = await requestFrom(cluster, CLIENT, `${URL}/`, { headers: auth });
    assert.equal(cluster_.status, 403, cluster_.body);
    assert.equal(cluster_.json.error.code, 'caller_forbidden');
    assert.match(cluster_.json.error.hint, new RegExp(`--serviceaccount=${CLIENT.namespace}:reader`));
    const other = await requestFrom(cluster, CLIENT, `${URL}/?namespace=kube-system`, { headers: auth });
    assert.equal(other.status, 403, other.body);
  }));
});
