// Scale from zero on the real test cluster with Knative Serving (test/node, test/knative): a
// request to a revision at zero -> the first correct answer, for podcount's Knative Service
// (knative/base/service.yaml) against a hello-world `node:http` Knative Service deployed the same
// way (the floor), interleaved in one run; where the time goes, from the components' own
// timestamps (one clock: the whole cluster runs on this machine); and warm latency through the
// activator and straight to the pod.
import { readFileSync } from 'node:fs';
import { ensureImages } from '../test/images/images.ts';
import { concurrentRequestsFrom, type ClientPod } from '../test/e2e/client.ts';
import { baseObjects, clientPod, knativeService, toYaml } from '../test/e2e/workloads.ts';
import { installKnative } from '../test/knative/install.ts';
import { ensureNodeBinaries } from '../test/node/binaries.ts';
import { NodeCluster } from '../test/node/node-cluster.ts';
import { waitFor } from '../test/support/poll.ts';
import { median, round, saveResult, table } from './lib.ts';

const ROUNDS = Number(process.env['BENCH_ZERO_ROUNDS'] ?? 5);
const NS = 'podcount';
const CLIENT: ClientPod = { namespace: 'bench-client', name: 'client' };

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Phases {
  /** Request sent -> the scheduler placed the new pod (activator, autoscaler, Deployment, ReplicaSet, scheduler). */
  toScheduled: number;
  /** -> the pod's sandbox (pause, network) is up (kubelet, containerd, CNI). */
  toSandbox: number;
  /** -> the function's container started (image unpacked, runc). */
  toContainer: number;
  /** -> the answer arrived (the process starts and listens, readiness, the activator forwards). */
  toAnswer: number;
}

async function atZero(cluster: NodeCluster, name: string): Promise<void> {
  await waitFor(async () => {
    const pods = (await cluster.admin.must(`/api/v1/namespaces/${NS}/pods?labelSelector=serving.knative.dev%2Fservice%3D${name}`)).json.items as Obj[];
    return pods.length === 0;
  }, { timeoutMs: 240_000, intervalMs: 500, what: `${name} at zero` });
}

/** containerd's CRI log lines (info level) for a pod: when its sandbox and a container started. */
export function containerdTimes(log: string, podName: string, containerName: string): { sandbox: number; container: number } {
  const lines = log.split('\n');
  const time = (l: string | undefined) => Date.parse(/time="([^"]+)"/.exec(l ?? '')?.[1] ?? '');
  // msg="RunPodSandbox for name:\"POD\" uid:... returns sandbox id \"ID\""
  const sandboxLine = lines.find((l) => l.includes(`RunPodSandbox for name:\\"${podName}\\"`) && l.includes('returns sandbox id'));
  const sandboxId = /returns sandbox id \\"([0-9a-f]+)/.exec(sandboxLine ?? '')?.[1];
  const createLine = sandboxId ? lines.find((l) => l.includes(`CreateContainer within sandbox \\"${sandboxId}\\" for name:\\"${containerName}\\" returns container id`)) : undefined;
  const containerId = /returns container id \\"([0-9a-f]+)/.exec(createLine ?? '')?.[1];
  const startLine = containerId ? lines.find((l) => l.includes(`StartContainer for \\"${containerId}\\" returns successfully`)) : undefined;
  return { sandbox: time(sandboxLine), container: time(startLine) };
}

async function fromZeroOnce(cluster: NodeCluster, name: string, ok: (body: string) => Promise<boolean>): Promise<{ ms: number; phases: Phases }> {
  await atZero(cluster, name);
  const url = `http://${name}-00001.${NS}.svc.cluster.local/`;
  const sent = Date.now();
  const [answer] = await concurrentRequestsFrom(cluster, CLIENT, url, 1);
  if (answer?.status !== 200 || !(await ok(answer.body))) throw new Error(`${name} from zero answered ${answer?.status} ${answer?.body}`);
  // The pod that answered, and the scheduler's event for it (events.k8s.io: microsecond eventTime).
  const pods = (await cluster.admin.must(`/api/v1/namespaces/${NS}/pods?labelSelector=serving.knative.dev%2Fservice%3D${name}`)).json.items as Obj[];
  const pod = pods.sort((a, b) => Date.parse(b['metadata'].creationTimestamp) - Date.parse(a['metadata'].creationTimestamp))[0]!;
  const events = (await cluster.admin.must(`/apis/events.k8s.io/v1/namespaces/${NS}/events?fieldSelector=regarding.name%3D${pod['metadata'].name}`)).json.items as Obj[];
  const scheduled = Date.parse(events.find((e) => e['reason'] === 'Scheduled')?.['eventTime'] ?? '');
  const log = readFileSync(cluster.processes.find((p) => p.name === 'containerd')!.logFile, 'utf8');
  // Both services run knative/base/service.yaml's container, named podcount.
  const { sandbox, container } = containerdTimes(log, pod['metadata'].name, 'podcount');
  const answered = sent + answer.ms;
  return { ms: answer.ms, phases: { toScheduled: scheduled - sent, toSandbox: sandbox - scheduled, toContainer: container - sandbox, toAnswer: answered - container } };
}

export async function fromZero(): Promise<void> {
  const bin = await ensureNodeBinaries((l) => console.log(l));
  const images = await ensureImages({ corednsBinary: bin.coredns, log: (l) => console.log(l) });
  const cluster = await NodeCluster.start({ images });
  try {
    await Promise.all([images.podcount, images.hello, images.client].map((i) => cluster.importImage(i)));
    await installKnative(cluster, { eventing: false });
    await cluster.apply(toYaml([
      ...baseObjects(),
      knativeService({ image: images.podcount.ref, name: 'podcount' }),
      knativeService({ image: images.hello.ref, name: 'hello' }),
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CLIENT.namespace } },
      clientPod({ image: images.client.ref, namespace: CLIENT.namespace }),
    ]));
    await cluster.kubectl(['-n', CLIENT.namespace, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=60s']);
    const truth = async () => ((await cluster.admin.must('/api/v1/pods')).json.items as unknown[]).length;
    const rows = [
      { name: 'hello', label: 'hello-world node:http Knative Service (the floor): first 200', ok: async () => true },
      { name: 'podcount', label: 'podcount: first correct count', ok: async (body: string) => (JSON.parse(body) as { count: number }).count === await truth() },
    ];
    const runs = new Map(rows.map((r) => [r.name, [] as Array<{ ms: number; phases: Phases }>]));
    // Round 0 warms the page cache and containerd's snapshots; it is not counted.
    for (let i = 0; i <= ROUNDS; i++) {
      for (const r of rows) {
        const run = await fromZeroOnce(cluster, r.name, r.ok);
        if (i > 0) runs.get(r.name)!.push(run);
      }
    }
    const floor = median(runs.get('hello')!.map((r) => r.ms));
    const phase = (name: string, key: keyof Phases) => round(median(runs.get(name)!.map((r) => r.phases[key])));
    const results = rows.map((r) => ({
      name: r.label,
      medianMs: round(median(runs.get(r.name)!.map((x) => x.ms))),
      ratio: round(median(runs.get(r.name)!.map((x) => x.ms)) / floor, 2),
      all: runs.get(r.name)!.map((x) => round(x.ms)),
      phases: { toScheduled: phase(r.name, 'toScheduled'), toSandbox: phase(r.name, 'toSandbox'), toContainer: phase(r.name, 'toContainer'), toAnswer: phase(r.name, 'toAnswer') },
    }));
    table(`Scale from zero: request -> first correct answer through the activator, median of ${ROUNDS} interleaved rounds (ms)`, ['service', 'median', 'x floor', 'runs'], results.map((r) => [r.name, r.medianMs, r.ratio, r.all.join(' ')]));
    table('Where the time goes (medians, ms)', ['service', 'activator + autoscaler + scheduling', 'sandbox', 'container start', 'process, readiness, activator -> answer'],
      results.map((r) => [r.name, r.phases.toScheduled, r.phases.toSandbox, r.phases.toContainer, r.phases.toAnswer]));

    // Warm: a pod is up; 10 requests one after another by each path.
    const [warm] = await concurrentRequestsFrom(cluster, CLIENT, `http://podcount-00001.${NS}.svc.cluster.local/`, 1);
    if (warm?.status !== 200) throw new Error(`warm-up answered ${warm?.status}`);
    const pod = ((await cluster.admin.must(`/api/v1/namespaces/${NS}/pods?labelSelector=serving.knative.dev%2Fservice%3Dpodcount`)).json.items as Obj[])[0]!;
    const sequential = async (url: string, headers: Record<string, string> = {}) => {
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const [a] = await concurrentRequestsFrom(cluster, CLIENT, url, 1, headers);
        if (a?.status !== 200) throw new Error(`${url} answered ${a?.status} ${a?.body}`);
        times.push(a.ms);
      }
      return round(median(times));
    };
    const sks = (await cluster.admin.must(`/apis/networking.internal.knative.dev/v1alpha1/namespaces/${NS}/serverlessservices/podcount-00001`)).json;
    const warmRows = [
      ['through the activator (its Service, with the revision in Knative-Serving-* headers)', await sequential('http://activator-service.knative-serving.svc.cluster.local/', { 'knative-serving-revision': 'podcount-00001', 'knative-serving-namespace': NS })],
      [`through the revision's Service (SKS mode ${sks.spec?.mode})`, await sequential(`http://podcount-00001.${NS}.svc.cluster.local/`)],
      ['straight to the pod\'s queue-proxy (port 8012)', await sequential(`http://${pod['status'].podIP}:8012/`)],
    ];
    table('Warm latency, podcount, median (ms)', ['path', 'median'], warmRows);
    saveResult('fromzero', { rounds: ROUNDS, results, warm: Object.fromEntries(warmRows) });
  } finally {
    await cluster.stop();
  }
}

if (import.meta.main) await fromZero();
