// Pod start on the real test cluster (test/node): pod created -> first correct count, for
// podcount's image against a hello-world `node:http` image built the same way (the floor), in
// the same run, interleaved; plus the images' sizes and podcount's memory in the pod.
// Each round creates a bare pod (the container of knative/base/service.yaml), polls it through
// kube-apiserver's pod proxy every 20 ms from the host, and deletes it.
import { ensureImages } from '../test/images/images.ts';
import { baseObjects, podcountDeployment, toYaml } from '../test/e2e/workloads.ts';
import { ensureNodeBinaries } from '../test/node/binaries.ts';
import { NodeCluster } from '../test/node/node-cluster.ts';
import { waitFor } from '../test/support/poll.ts';
import { median, round, saveResult, table } from './lib.ts';

const ROUNDS = Number(process.env['BENCH_POD_ROUNDS'] ?? 7);
const NS = 'podcount';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function podFrom(name: string, image: string, app: string): Obj {
  const [deployment] = podcountDeployment({ image, name: app });
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { app } }, spec: deployment!['spec'].template.spec };
}

async function startOnce(cluster: NodeCluster, pod: Obj, correct: (status: number, body: string) => Promise<boolean>): Promise<number> {
  const name = pod['metadata'].name as string;
  const started = performance.now();
  await cluster.admin.must(`/api/v1/namespaces/${NS}/pods`, { method: 'POST', body: pod });
  const proxy = `/api/v1/namespaces/${NS}/pods/${name}:8080/proxy/`;
  let ms = 0;
  await waitFor(async () => {
    const res = await cluster.admin.request(proxy, { timeoutMs: 2000 }).catch(() => undefined);
    if (!res || !(await correct(res.status, res.text))) return false;
    ms = performance.now() - started;
    return true;
  }, { timeoutMs: 60_000, intervalMs: 20, what: `${name} to answer` });
  await cluster.admin.request(`/api/v1/namespaces/${NS}/pods/${name}?gracePeriodSeconds=0`, { method: 'DELETE' });
  await waitFor(async () => (await cluster.admin.request(`/api/v1/namespaces/${NS}/pods/${name}`)).status === 404, { timeoutMs: 60_000, what: `${name} to be gone` });
  return ms;
}

async function rssMb(cluster: NodeCluster, name: string): Promise<number> {
  const pod = (await cluster.admin.must(`/api/v1/namespaces/${NS}/pods/${name}`)).json;
  const pid = await cluster.containerPid(pod.status.containerStatuses[0].containerID);
  const status = await cluster.sandbox.exec('cat', [`/proc/${pid}/status`]);
  return round(Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024);
}

export async function podStart(): Promise<void> {
  const bin = await ensureNodeBinaries((l) => console.log(l));
  const images = await ensureImages({ corednsBinary: bin.coredns, log: (l) => console.log(l) });
  const cluster = await NodeCluster.start({ images });
  try {
    await Promise.all([images.podcount, images.hello].map((i) => cluster.importImage(i)));
    await cluster.apply(toYaml(baseObjects()));
    const truth = async () => ((await cluster.admin.must('/api/v1/pods')).json.items as unknown[]).length;
    const rows = [
      { name: 'hello-world node:http (the floor): first 200', image: images.hello.ref, ok: async (s: number) => s === 200 },
      {
        name: 'podcount: first correct count', image: images.podcount.ref,
        ok: async (s: number, body: string) => s === 200 && (JSON.parse(body) as { count: number }).count === await truth(),
      },
    ];
    const times = new Map(rows.map((r) => [r.name, [] as number[]]));
    for (let i = 0; i <= ROUNDS; i++) {
      for (const r of rows) {
        const ms = await startOnce(cluster, podFrom(`bench-${i}-${r.image.includes('hello') ? 'hello' : 'podcount'}`, r.image, 'bench'), r.ok);
        // Round 0 warms the page cache and containerd's snapshots.
        if (i > 0) times.get(r.name)!.push(ms);
      }
    }
    const floor = median(times.get(rows[0]!.name)!);
    const results = rows.map((r) => ({ name: r.name, medianMs: round(median(times.get(r.name)!)), all: times.get(r.name)!.map((t) => round(t)), ratio: round(median(times.get(r.name)!) / floor, 2) }));
    table(`Pod created -> first correct answer on the test cluster, median of ${ROUNDS} interleaved rounds (ms)`, ['pod', 'median', 'x floor', 'runs'], results.map((r) => [r.name, r.medianMs, r.ratio, r.all.join(' ')]));

    // podcount's memory in its pod after a few counts.
    await cluster.admin.must(`/api/v1/namespaces/${NS}/pods`, { method: 'POST', body: podFrom('bench-rss', images.podcount.ref, 'bench-rss') });
    await waitFor(async () => (await cluster.admin.request(`/api/v1/namespaces/${NS}/pods/bench-rss:8080/proxy/`)).status === 200, { timeoutMs: 60_000, intervalMs: 50, what: 'bench-rss to answer' });
    for (let i = 0; i < 20; i++) await cluster.admin.request(`/api/v1/namespaces/${NS}/pods/bench-rss:8080/proxy/`);
    const rss = await rssMb(cluster, 'bench-rss');
    const sizes = { podcount: images.podcount.bytes, hello: images.hello.bytes };
    table('Images and memory', ['what', 'value'], [['podcount image', `${round(sizes.podcount / 1048576)} MB`], ['hello-world image', `${round(sizes.hello / 1048576)} MB`], ['podcount RSS in its pod after 20 counts', `${rss} MB`]]);
    saveResult('podstart', { rounds: ROUNDS, results, imageBytes: sizes, podcountRssMb: rss, clusterStartSeconds: cluster.timings });
  } finally {
    await cluster.stop();
  }
}

if (import.meta.main) await podStart();
