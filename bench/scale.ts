// Counting at 1k, 10k and 100k pods on the harness control plane: podcount (unfiltered and
// filtered, end to end through its HTTP endpoint) against the anchors: one raw `limit=1` request
// (the physical limit of a fresh count), client-node's listPodForAllNamespaces (the seeds'
// method) and `kubectl get pods -A --no-headers | wc -l`. Time, bytes from the API server, peak RSS.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BearerClient } from '../test/support/bearer-client.ts';
import { ControlPlane } from '../test/support/controlplane.ts';
import { FunctionProcess } from '../test/support/function-process.ts';
import { setUpServiceAccount } from '../test/support/identity.ts';
import { writeServiceAccountDir } from '../test/support/in-cluster.ts';
import { apiTruthCount, createPods } from '../test/support/pods.ts';
import { median, peakRssMb, round, saveResult, table, timedGet } from './lib.ts';

const ROOT = resolve(import.meta.dirname, '..');
const SIZES = (process.env['BENCH_SIZES'] ?? '1000,10000,100000').split(',').map(Number);
const NAMESPACES = 10;
const METADATA = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const TABLE = 'application/json;as=Table;g=meta.k8s.io;v=v1,application/json';

export interface ScaleRow { pods: number; method: string; filtered: boolean; ms: number; bytes: number | null; peakRssMb: number | null; count: number; correct: boolean }

export async function scale(): Promise<void> {
  const cp = await ControlPlane.start();
  const scratch = mkdtempSync(join(tmpdir(), 'podcount-bench-scale-'));
  const fns: FunctionProcess[] = [];
  try {
    const sa = await setUpServiceAccount(cp, 'podcount', 'podcount', 'cluster');
    // The same identity for every method: client-node's loadFromCluster folder, and a kubeconfig for kubectl.
    await writeServiceAccountDir(join(scratch, 'var/run/secrets/kubernetes.io/serviceaccount'), { token: sa.token, caPem: cp.caPem, namespace: 'podcount' });
    const kubeconfig = join(scratch, 'sa.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'sa', clusters: [{ name: 'c', cluster: { server: cp.url, 'certificate-authority': cp.caFile } }], users: [{ name: 'sa', user: { token: sa.token } }], contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa' } }] }));
    const unfiltered = await FunctionProcess.start({ env: sa.env });
    const filtered = await FunctionProcess.start({ env: sa.env });
    fns.push(unfiltered, filtered);
    // The same identity as podcount's, one keep-alive connection: the anchor's raw requests.
    const rawClient = new BearerClient(cp.url, cp.caPem, sa.token, 1);
    const raw = async (path: string, accept: string) => {
      const started = performance.now();
      const res = await rawClient.request(path, { headers: { accept } });
      return { ms: performance.now() - started, bytes: Buffer.byteLength(res.text), json: res.json };
    };
    const podcountAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

    const rows: ScaleRow[] = [];
    const creation: Array<{ pods: number; seconds: number; perSecond: number }> = [];
    const representations: Array<{ pods: number; representation: string; bytesPer500: number }> = [];
    let have = 0;
    for (const size of SIZES) {
      // Top up to `size` pods over 10 namespaces, half labelled app=web.
      const started = performance.now();
      const perNs = (size - have) / NAMESPACES;
      await Promise.all(Array.from({ length: NAMESPACES }, async (_, n) => {
        await createPods(cp, `bench-${n}`, perNs / 2, { labels: { app: 'web' }, prefix: `web-${size}`, concurrency: 8 });
        await createPods(cp, `bench-${n}`, perNs / 2, { labels: { app: 'db' }, prefix: `db-${size}`, concurrency: 8 });
      }));
      const seconds = (performance.now() - started) / 1000;
      creation.push({ pods: size - have, seconds: round(seconds), perSecond: Math.round((size - have) / seconds) });
      console.log(`scale: ${size} pods (created ${size - have} in ${seconds.toFixed(1)} s, ${Math.round((size - have) / seconds)} pods/s)`);
      have = size;
      const truth = await apiTruthCount(cp, {});
      const truthWeb = await apiTruthCount(cp, { labelSelector: 'app=web' });
      const reps = size >= 100_000 ? 3 : 7;
      const add = (method: string, isFiltered: boolean, ms: number[], bytes: number | null, rss: number | null, count: number) =>
        rows.push({ pods: size, method, filtered: isFiltered, ms: round(median(ms), 2), bytes, peakRssMb: rss, count, correct: count === (isFiltered ? truthWeb : truth) });

      // One raw limit=1 request on a warm connection: the least work any fresh count can do.
      await raw('/api/v1/pods?limit=1', METADATA);
      const rawRuns = [];
      for (let i = 0; i < 15; i++) rawRuns.push(await raw('/api/v1/pods?limit=1', METADATA));
      const first = rawRuns[0]!.json as { items: unknown[]; metadata: { remainingItemCount: number } };
      add('one raw limit=1 request', false, rawRuns.map((r) => r.ms), rawRuns[0]!.bytes, null, first.items.length + first.metadata.remainingItemCount);

      // podcount, end to end through its own HTTP endpoint (warm instance, keep-alive).
      for (const [fn, path, isFiltered] of [[unfiltered, '/', false], [filtered, '/?labelSelector=app%3Dweb', true]] as const) {
        await timedGet(fn.port, path, podcountAgent);
        const runs = [];
        for (let i = 0; i < (isFiltered ? reps : 15); i++) runs.push(await timedGet(fn.port, path, podcountAgent));
        const lastLog = fn.logs.filter((l) => l.msg === 'invocation').at(-1)!;
        add('podcount', isFiltered, runs.map((r) => r.ms), Number(lastLog['apiBytes']), peakRssMb(fn.child.pid!), (JSON.parse(runs[0]!.body) as { count: number }).count);
      }

      // client-node's full list, the seeds' way; bytes as the API server sends that list.
      for (const isFiltered of [false, true]) {
        const runs = [];
        for (let i = 0; i < (size >= 100_000 ? 1 : 3); i++) runs.push(await naiveList(scratch, cp, isFiltered ? 'app=web' : undefined));
        const bytes = (await raw(`/api/v1/pods${isFiltered ? '?labelSelector=app%3Dweb' : ''}`, 'application/json')).bytes;
        add('client-node listPodForAllNamespaces', isFiltered, runs.map((r) => r.ms), bytes, Math.max(...runs.map((r) => r.peakRssMb)), runs[0]!.count);
      }

      // kubectl get pods -A --no-headers | wc -l (kubectl pages with limit=500 as a Table).
      for (const isFiltered of [false, true]) {
        const runs = [];
        for (let i = 0; i < (size >= 100_000 ? 1 : 3); i++) runs.push(kubectlCount(cp.binaries.kubectl, kubeconfig, scratch, isFiltered ? 'app=web' : undefined));
        add('kubectl get pods -A | wc -l', isFiltered, runs.map((r) => r.ms), null, Math.max(...runs.map((r) => r.peakRssMb)), runs[0]!.count);
      }

      // Page size of each representation, to choose the cheapest for filtered counts.
      for (const [name, accept, extra] of [['JSON PodList', 'application/json', ''], ['PartialObjectMetadataList', METADATA, ''], ['Table, includeObject=None', TABLE, '&includeObject=None']] as const) {
        representations.push({ pods: size, representation: name, bytesPer500: (await raw(`/api/v1/pods?limit=500&labelSelector=app%3Dweb${extra}`, accept)).bytes });
      }
      table(`Counting ${size} pods (median ms; bytes from the API server; peak RSS)`, ['method', 'filter', 'ms', 'bytes', 'peak RSS MB', 'count ok'],
        rows.filter((r) => r.pods === size).map((r) => [r.method, r.filtered ? 'app=web' : '-', r.ms, r.bytes ?? '-', r.peakRssMb ?? '-', r.correct ? 'yes' : `NO (${r.count})`]));
    }
    table('List page of 500 pods, by representation (bytes)', ['pods', 'representation', 'bytes'], representations.map((r) => [r.pods, r.representation, r.bytesPer500]));
    saveResult('scale', { sizes: SIZES, namespaces: NAMESPACES, creation, rows, representations });
    rawClient.close();
    podcountAgent.destroy();
    sa.cleanup();
  } finally {
    for (const fn of fns) await fn.stop();
    rmSync(scratch, { recursive: true, force: true });
    await cp.stop();
  }
}

function naiveList(prefix: string, cp: ControlPlane, labelSelector?: string): Promise<{ ms: number; count: number; peakRssMb: number }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'naive-list.ts'), prefix, ...(labelSelector ? [labelSelector] : [])], {
      cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', KUBERNETES_SERVICE_HOST: cp.host, KUBERNETES_SERVICE_PORT: String(cp.port) }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('exit', (code) => (code === 0 ? done(JSON.parse(out) as { ms: number; count: number; peakRssMb: number }) : fail(new Error(`naive-list exited ${code}`))));
  });
}

/** kubectl's count, timed around the whole pipeline; its peak RSS from GNU time. */
function kubectlCount(kubectl: string, kubeconfig: string, scratch: string, labelSelector?: string): { ms: number; count: number; peakRssMb: number } {
  const rssFile = join(scratch, 'kubectl.rss');
  const selector = labelSelector ? ['-l', labelSelector] : [];
  const started = performance.now();
  const out = execFileSync('bash', ['-c', 'set -o pipefail; /usr/bin/time -f %M -o "$0" "$@" | wc -l', rssFile, kubectl, '--kubeconfig', kubeconfig, 'get', 'pods', '-A', ...selector, '--no-headers'], { encoding: 'utf8' });
  const ms = performance.now() - started;
  return { ms, count: Number(out.trim()), peakRssMb: round(Number(readFileSync(rssFile, 'utf8').trim()) / 1024) };
}

if (import.meta.main) await scale();
