// podcount's image, built from the repository's Dockerfile, running as a pod on a real node:
// admitted by the real `restricted` Pod Security profile, under its own ServiceAccount with the
// token the kubelet projects, reaching kube-apiserver through the `kubernetes` Service, asked by
// a workload in another namespace. The shipped manifests (knative/base) are what is applied.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KUBERNETES_SERVICE_IP } from '../node/configs.ts';
import type { NodeCluster } from '../node/node-cluster.ts';
import { waitFor } from '../support/poll.ts';
import { requestFrom, waitForService, type ClientPod } from './client.ts';
import { useNodeCluster } from './cluster-fixture.ts';
import { countMatchesTruth as matchesTruth, type Query } from './truth.ts';
import { baseObjects, clientPod, pausePod, podcountDeployment, toYaml } from './workloads.ts';

const PODCOUNT_URL = 'http://podcount.podcount.svc.cluster.local';
const CLIENT: ClientPod = { namespace: 'e2e-client', name: 'client' };
const restrictedNamespace = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });

/** podcount's count through its Service equals the API truth. */
const countMatchesTruth = (cluster: NodeCluster, query: Query = {}) => matchesTruth(cluster, CLIENT, PODCOUNT_URL, query);

async function podOf(cluster: NodeCluster, namespace: string, app: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const pods = (await cluster.admin.must(`/api/v1/namespaces/${namespace}/pods?labelSelector=app.kubernetes.io%2Fname%3D${app}`)).json.items as any[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  const running = pods.filter((p) => !p.metadata.deletionTimestamp && p.status.phase === 'Running');
  if (running.length !== 1) throw new Error(`expected one running ${app} pod in ${namespace}, found ${running.length}`);
  return running[0];
}

describe('podcount in a pod on a real node', () => {
  const f = useNodeCluster();

  before(async () => {
    await f.explain('podcount', async () => {
      const { cluster, images } = f;
      await cluster.apply(toYaml([...baseObjects(), ...podcountDeployment({ image: images.podcount.ref })]));
      await cluster.apply(toYaml([restrictedNamespace(CLIENT.namespace), clientPod({ image: images.client.ref, namespace: CLIENT.namespace })]));
      await cluster.kubectl(['-n', 'podcount', 'rollout', 'status', 'deployment/podcount', '--timeout=90s']);
      await cluster.kubectl(['-n', CLIENT.namespace, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=60s']);
      await waitForService(cluster, CLIENT, 'podcount.podcount.svc.cluster.local');
    });
  });

  it('is admitted by the restricted profile and runs as 65532 on a read-only root under ServiceAccount podcount', () => f.explain('podcount', async () => {
    const { cluster } = f;
    const ns = (await cluster.admin.must('/api/v1/namespaces/podcount')).json;
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    // The label is enforced, not decorative: a pod without the restricted settings is refused.
    const refused = await cluster.admin.request('/api/v1/namespaces/podcount/pods', { method: 'POST', body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'unrestricted' }, spec: { containers: [{ name: 'c', image: f.images.pause.ref }] } } });
    assert.equal(refused.status, 403);
    assert.match(refused.json.message, /violates PodSecurity "restricted:latest"/);

    const pod = await podOf(cluster, 'podcount', 'podcount');
    assert.equal(pod.spec.serviceAccountName, 'podcount');
    const status = pod.status.containerStatuses[0];
    assert.equal(status.ready, true);
    assert.equal(status.imageID.length > 0, true);
    // The kernel's view of the process: its user and its root mount.
    const pid = await cluster.containerPid(status.containerID);
    const procStatus = await cluster.sandbox.exec('cat', [`/proc/${pid}/status`]);
    assert.match(procStatus, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
    assert.match(procStatus, /^Gid:\s+65532\s+65532\s+65532\s+65532$/m);
    assert.match(procStatus, /^CapEff:\s+0+$/m);
    const root = (await cluster.sandbox.exec('cat', [`/proc/${pid}/mountinfo`])).split('\n').find((l) => l.split(' ')[4] === '/');
    assert.ok(root, 'no root mount in the container');
    assert.match(root.split(' ')[5]!, /(^|,)ro(,|$)/, `root mounted read-write: ${root}`);
  }));

  it('shows on /diagnostics the token the kubelet projected and the kubernetes Service as its server', () => f.explain('podcount', async () => {
    const { cluster } = f;
    const pod = await podOf(cluster, 'podcount', 'podcount');
    // The kubelet's projected volume, not a Secret: a bound, expiring token.
    const projected = pod.spec.volumes.find((v: { name: string }) => v.name.startsWith('kube-api-access-'));
    assert.ok(projected?.projected?.sources.some((s: { serviceAccountToken?: unknown }) => s.serviceAccountToken), 'no projected ServiceAccount token volume');
    const res = await requestFrom(cluster, CLIENT, `${PODCOUNT_URL}/diagnostics`);
    assert.equal(res.status, 200, res.body);
    const d = res.json;
    assert.equal(d.ok, true, JSON.stringify(d.problems));
    assert.equal(d.config.source, 'in-cluster');
    assert.equal(d.config.server, `https://${KUBERNETES_SERVICE_IP}:443`);
    assert.equal(d.config.namespace, 'podcount');
    assert.equal(d.apiServer.version, 'v1.36.3');
    assert.equal(d.identity.username, 'system:serviceaccount:podcount:podcount');
    assert.equal(d.identity.from, 'SelfSubjectReview');
    assert.equal(d.token.issuer, 'https://kubernetes.default.svc.cluster.local');
    assert.deepEqual(d.token.audiences, ['https://kubernetes.default.svc.cluster.local']);
    assert.deepEqual(d.token.boundTo, { kind: 'pod', name: pod.metadata.name });
    assert.deepEqual(d.token.serviceAccount, { namespace: 'podcount', name: 'podcount' });
    // The kubelet asks for an hour (3607 s) and the server grants it unextended.
    assert.ok(d.token.expiresInSeconds > 3000 && d.token.expiresInSeconds <= 3607, `token expires in ${d.token.expiresInSeconds} s`);
    assert.equal(d.permissions.listPodsClusterWide.allowed, true);
  }));

  it('answers a workload in another namespace with the API truth as pods come and go', () => f.explain('e2e-load', async () => {
    const { cluster, images } = f;
    await cluster.importImage(images.pause);
    const first = await countMatchesTruth(cluster);
    assert.ok(first >= 3, `CoreDNS, podcount and the client are pods too (counted ${first})`);
    const names = Array.from({ length: 6 }, (_, i) => `load-${i}`);
    await cluster.apply(toYaml([restrictedNamespace('e2e-load'), ...names.map((name) => pausePod({ image: images.pause.ref, namespace: 'e2e-load', name, labels: { app: 'e2e-load', half: String(Number(name.slice(-1)) % 2) } }))]));
    assert.equal(await countMatchesTruth(cluster), first + 6);
    await cluster.kubectl(['-n', 'e2e-load', 'wait', '--for=condition=Ready', 'pod', '--all', '--timeout=60s']);
    await cluster.kubectl(['-n', 'e2e-load', 'delete', 'pod', 'load-0', 'load-1', '--grace-period=0', '--force', '--wait=true']);
    assert.equal(await countMatchesTruth(cluster), first + 4);

    assert.equal(await countMatchesTruth(cluster, { namespace: 'kube-system' }), 1);
    assert.equal(await countMatchesTruth(cluster, { namespace: 'e2e-load' }), 4);
    assert.equal(await countMatchesTruth(cluster, { labelSelector: 'app=e2e-load,half=0' }), 2);
    assert.equal(await countMatchesTruth(cluster, { namespace: 'e2e-load', labelSelector: 'half in (1)' }), 2);
    assert.equal(await countMatchesTruth(cluster, { fieldSelector: 'metadata.namespace=e2e-load,status.phase=Running' }), 4);

    const text = await requestFrom(cluster, CLIENT, `${PODCOUNT_URL}/?namespace=e2e-load`, { headers: { accept: 'text/plain' } });
    assert.equal(text.status, 200);
    assert.equal(text.body, 'There are 4 pods in namespace "e2e-load"\n');
  }));

  it('uses the compile cache the image build prepared', () => f.explain('podcount', async () => {
    const { cluster, images } = f;
    const [deployment] = podcountDeployment({ image: images.podcount.ref, name: 'podcount-cache-check', env: { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } });
    await cluster.apply(toYaml([deployment!]));
    await cluster.kubectl(['-n', 'podcount', 'rollout', 'status', 'deployment/podcount-cache-check', '--timeout=90s']);
    const logs = await cluster.kubectl(['-n', 'podcount', 'logs', 'deployment/podcount-cache-check']);
    assert.match(logs, /V8 code cache for ESM file:\/\/\/app\/dist\/index\.mjs was accepted/);
    assert.doesNotMatch(logs, /was rejected|failed to/);
    await cluster.kubectl(['-n', 'podcount', 'delete', 'deployment', 'podcount-cache-check', '--wait=true']);
  }));

  it('under the namespace\'s default ServiceAccount: 502 forbidden with the exact fix, and no crash loop', () => f.explain('e2e-default-sa', async () => {
    const { cluster, images } = f;
    await cluster.apply(toYaml([restrictedNamespace('e2e-default-sa'), ...podcountDeployment({ image: images.podcount.ref, namespace: 'e2e-default-sa', serviceAccountName: null })]));
    await cluster.kubectl(['-n', 'e2e-default-sa', 'rollout', 'status', 'deployment/podcount', '--timeout=90s']);
    await waitForService(cluster, CLIENT, 'podcount.e2e-default-sa.svc.cluster.local');
    const url = 'http://podcount.e2e-default-sa.svc.cluster.local/';
    for (let i = 0; i < 2; i++) {
      const res = await requestFrom(cluster, CLIENT, url);
      assert.equal(res.status, 502, res.body);
      assert.equal(res.json.error.code, 'forbidden');
      assert.match(res.json.error.message, /pods is forbidden: User "system:serviceaccount:e2e-default-sa:default" cannot list resource "pods" in API group "" at the cluster scope/);
      assert.match(res.json.error.hint, /kubectl create clusterrolebinding podcount-pod-lister --clusterrole=podcount-pod-lister --serviceaccount=e2e-default-sa:default/);
    }
    // The warm-up said so once, with the same fix, at start.
    const logs = await cluster.kubectl(['-n', 'e2e-default-sa', 'logs', 'deployment/podcount']);
    assert.match(logs, /--serviceaccount=e2e-default-sa:default/);
    await sleep(3000);
    const pod = await podOf(cluster, 'e2e-default-sa', 'podcount');
    assert.equal(pod.status.containerStatuses[0].restartCount, 0);
    assert.equal(pod.status.containerStatuses[0].ready, true);
  }));

  it('finishes the requests in flight when the kubelet sends SIGTERM (pod deleted)', () => f.explain('podcount', async () => {
    const { cluster } = f;
    const pod = await podOf(cluster, 'podcount', 'podcount');
    const logs = spawnKubectl(cluster, ['-n', 'podcount', 'logs', '--follow', pod.metadata.name]);
    // A request whose body arrives in two halves, 3 s apart: in flight when SIGTERM lands.
    const script = `const req = require('node:http').request({ host: '${pod.status.podIP}', port: 8080, method: 'POST', path: '/', headers: { 'content-length': 64 } }, (res) => {
        let body = ''; res.on('data', (c) => { body += c; }); res.on('end', () => console.log(res.statusCode + ' ' + body));
      });
      req.on('error', (e) => console.log('error ' + e.message));
      req.write(' '.repeat(32)); console.log('half sent');
      setTimeout(() => req.end(' '.repeat(32)), 3000);`;
    const slow = spawnKubectl(cluster, ['exec', '-n', CLIENT.namespace, CLIENT.name, '--', '/nodejs/bin/node', '-e', script]);
    await waitFor(() => slow.out.includes('half sent'), { timeoutMs: 20_000, what: 'the slow request to start' });
    await cluster.kubectl(['-n', 'podcount', 'delete', 'pod', pod.metadata.name, '--wait=false']);
    await slow.done;
    const answer = slow.out.split('\n').find((l) => /^\d{3} /.test(l));
    assert.ok(answer, `the in-flight request got no answer: ${slow.out}`);
    assert.equal(answer.slice(0, 3), '200', answer);
    assert.equal(typeof JSON.parse(answer.slice(4)).count, 'number');
    await logs.done;
    assert.match(logs.out, /"msg":"draining: no new connections, finishing in-flight requests"/);
    assert.match(logs.out, /"inFlight":1/);
    assert.match(logs.out, /"msg":"drained; exiting"/);
    // The Deployment's next pod takes over.
    await cluster.kubectl(['-n', 'podcount', 'rollout', 'status', 'deployment/podcount', '--timeout=90s']);
    await waitForService(cluster, CLIENT, 'podcount.podcount.svc.cluster.local');
    await countMatchesTruth(cluster);
  }));

  it('restarts a killed container, which then answers again', () => f.explain('podcount', async () => {
    const { cluster } = f;
    const pod = await podOf(cluster, 'podcount', 'podcount');
    const pid = await cluster.containerPid(pod.status.containerStatuses[0].containerID);
    await cluster.sandbox.exec('kill', ['-KILL', String(pid)]);
    await waitFor(async () => {
      const s = (await podOf(cluster, 'podcount', 'podcount').catch(() => undefined))?.status.containerStatuses[0];
      if (!s) return false;
      return s.restartCount === 1 && s.ready === true;
    }, { timeoutMs: 60_000, what: 'the killed podcount container to be restarted and ready' });
    const s = (await podOf(cluster, 'podcount', 'podcount')).status.containerStatuses[0];
    assert.equal(s.lastState.terminated.exitCode, 137);
    await waitForService(cluster, CLIENT, 'podcount.podcount.svc.cluster.local');
    await countMatchesTruth(cluster);
  }));
});

/** kubectl in the background, its output collected; `done` resolves when it exits. */
function spawnKubectl(cluster: NodeCluster, args: string[]): { out: string; done: Promise<void> } {
  const child = spawn(cluster.kubectlPath, [`--kubeconfig=${cluster.kubeconfigPath}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const result = { out: '', done: new Promise<void>((resolve) => child.once('close', () => resolve())) };
  child.stdout.setEncoding('utf8').on('data', (c: string) => { result.out += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { result.out += c; });
  return result;
}
