// Breakdowns (groupBy=namespace|phase|node) at 1k, 10k and 100k pods on the harness control plane:
// every candidate method, podcount end to end through its HTTP endpoint, and what a user does
// instead: `kubectl get pods -A -o custom-columns=X:<field> --no-headers | sort | uniq -c`.
// Time, bytes from the API server, peak RSS, and whether the groups equal the API truth.
// Pods: 10 namespaces, 8 nodes plus 1 in 10 unscheduled, 1 in 5 moved out of Pending through the
// status subresource (Running, Succeeded, Failed, Unknown).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BearerClient } from '../test/support/bearer-client.ts';
import { ControlPlane } from '../test/support/controlplane.ts';
import { FunctionProcess } from '../test/support/function-process.ts';
import { setUpServiceAccount } from '../test/support/identity.ts';
import { createPods, setPodPhases, type PodPhase } from '../test/support/pods.ts';
import { median, peakRssMb, round, saveResult, table, timedGet } from './lib.ts';

const SIZES = (process.env['BENCH_SIZES'] ?? '1000,10000,100000').split(',').map(Number);
const NAMESPACES = 10;
const NODES = 8;
const PAGE = 2000;
const TABLE = 'application/json;as=Table;g=meta.k8s.io;v=v1,application/json';
const METADATA = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const NO_NODE = '<none>';
const PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;

type By = 'namespace' | 'phase' | 'node';
type Groups = Record<string, number>;
export interface BreakdownRow { pods: number; groupBy: By; method: string; shipped: boolean; ms: number; bytes: number | null; requests: number | null; peakRssMb: number | null; correct: boolean }

const nodeOf = (i: number): string | undefined => (i % 10 === 9 ? undefined : `node-${i % NODES}`);
const phaseOf = (i: number): PodPhase | undefined => (['Running', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const)[i % 25] ?? undefined;

export async function breakdown(): Promise<void> {
  const cp = await ControlPlane.start();
  const scratch = mkdtempSync(join(tmpdir(), 'podcount-bench-breakdown-'));
  const started: FunctionProcess[] = [];
  try {
    const sa = await setUpServiceAccount(cp, 'podcount', 'podcount', 'cluster');
    const kubeconfig = join(scratch, 'sa.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'sa', clusters: [{ name: 'c', cluster: { server: cp.url, 'certificate-authority': cp.caFile } }], users: [{ name: 'sa', user: { token: sa.token } }], contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa' } }] }));
    // One podcount per groupBy, so each peak RSS is that breakdown's own.
    const fns = { node: await FunctionProcess.start({ env: sa.env }), namespace: await FunctionProcess.start({ env: sa.env }), phase: await FunctionProcess.start({ env: sa.env }) };
    started.push(...Object.values(fns));
    // podcount's identity for every method, on one keep-alive connection; the admin only for `list namespaces`.
    const client = new BearerClient(cp.url, cp.caPem, sa.token, 1);
    let requests = 0;
    let bytes = 0;
    const get = async (path: string, accept: string, as = client) => {
      const res = await as.must(path, { headers: { accept }, timeoutMs: 300_000 });
      requests += 1;
      bytes += Buffer.byteLength(res.text);
      return res.json as { metadata: { continue?: string; resourceVersion: string; remainingItemCount?: number }; items?: Array<Record<string, any>> | null; rows?: Array<{ cells: unknown[]; object?: any }>; columnDefinitions?: Array<{ name: string }> };
    };
    /** Pages through a list, the first page pinned to `pin` if given (later ones carry it in their continue token); `each` sees every page. */
    const pages = async (path: string, accept: string, each: (page: Awaited<ReturnType<typeof get>>) => void, pin = '') => {
      let cont = '';
      let rv = '';
      do {
        const at = cont ? `&continue=${encodeURIComponent(cont)}` : pin ? `&resourceVersion=${pin}&resourceVersionMatch=Exact` : '';
        const page = await get(`${path}${path.includes('?') ? '&' : '?'}limit=${PAGE}${at}`, accept);
        each(page);
        rv ||= page.metadata.resourceVersion;
        cont = page.metadata.continue ?? '';
      } while (cont);
      return rv;
    };
    const add = (g: Groups, k: string, n = 1) => { if (n > 0) g[k] = (g[k] ?? 0) + n; };

    // The candidate methods, each as podcount would make it, measured from this process.
    const methods: Record<By, Array<{ name: string; shipped: boolean; run: () => Promise<Groups> }>> = {
      node: [
        { name: 'Table rows, includeObject=None, "Node" column (one pass)', shipped: true, run: async () => {
          const g: Groups = {};
          let col = -1;
          await pages('/api/v1/pods?includeObject=None', TABLE, (p) => {
            if (p.columnDefinitions) col = p.columnDefinitions.findIndex((c) => c.name === 'Node');
            for (const r of p.rows ?? []) add(g, String(r.cells[col] || NO_NODE));
          });
          return g;
        } },
        { name: `spec.nodeName field selectors (${NODES + 1} walks, needs the node names: list nodes)`, shipped: false, run: async () => {
          const g: Groups = {};
          let rv = '';
          for (const node of [...Array.from({ length: NODES }, (_, i) => `node-${i}`), '']) {
            const path = `/api/v1/pods?includeObject=None&fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`;
            let n = 0;
            const at = await pages(path, TABLE, (p) => { n += p.rows?.length ?? 0; }, rv);
            rv ||= at;
            add(g, node || NO_NODE, n);
          }
          return g;
        } },
      ],
      namespace: [
        { name: `PartialObjectMetadataList pages of ${PAGE} (one pass; podcount pages 500)`, shipped: false, run: async () => {
          const g: Groups = {};
          await pages('/api/v1/pods', METADATA, (p) => { for (const i of p.items ?? []) add(g, i['metadata'].namespace); });
          return g;
        } },
        { name: 'Table rows, includeObject=Metadata (one pass)', shipped: false, run: async () => {
          const g: Groups = {};
          await pages('/api/v1/pods?includeObject=Metadata', TABLE, (p) => { for (const r of p.rows ?? []) add(g, r.object.metadata.namespace); });
          return g;
        } },
        { name: 'list namespaces + a pinned limit=1 count each (needs list namespaces)', shipped: false, run: async () => {
          const g: Groups = {};
          const first = await get('/api/v1/pods?limit=1', METADATA);
          const rv = first.metadata.resourceVersion;
          const names = (await get('/api/v1/namespaces', METADATA, cp.admin)).items!.map((i) => i['metadata'].name as string);
          for (const ns of names) {
            const p = await get(`/api/v1/namespaces/${ns}/pods?limit=1&resourceVersion=${rv}&resourceVersionMatch=Exact`, METADATA);
            add(g, ns, (p.items?.length ?? 0) + (p.metadata.remainingItemCount ?? 0));
          }
          return g;
        } },
      ],
      phase: [
        { name: 'status.phase field selectors, pinned (6 walks: 5 phases + none of them)', shipped: true, run: async () => {
          const g: Groups = {};
          let rv = '';
          for (const [name, sel] of [...PHASES.map((p) => [p, `status.phase=${p}`]), ['<other>', PHASES.map((p) => `status.phase!=${p}`).join(',')]] as const) {
            let n = 0;
            const at = await pages(`/api/v1/pods?includeObject=None&fieldSelector=${encodeURIComponent(sel)}`, TABLE, (p) => { n += p.rows?.length ?? 0; }, rv);
            rv ||= at;
            add(g, name, n);
          }
          return g;
        } },
        { name: 'PodList pages, reading status.phase (one pass, whole objects)', shipped: false, run: async () => {
          const g: Groups = {};
          await pages('/api/v1/pods', 'application/json', (p) => { for (const i of p.items ?? []) add(g, i['status'].phase); });
          return g;
        } },
      ],
    };
    const kubectlColumn: Record<By, string> = { namespace: '.metadata.namespace', phase: '.status.phase', node: '.spec.nodeName' };
    const podcountMethod: Record<By, string> = { namespace: 'namespace-metadata-pages', phase: 'phase-field-selectors', node: 'node-table-column' };

    const rows: BreakdownRow[] = [];
    const creation: Array<{ pods: number; seconds: number; phaseSeconds: number }> = [];
    let have = 0;
    for (const size of SIZES) {
      const seeding = performance.now();
      const perNs = (size - have) / NAMESPACES;
      await Promise.all(Array.from({ length: NAMESPACES }, (_, n) => createPods(cp, `bench-${n}`, perNs, { prefix: `p${size}`, concurrency: 4, nodeName: nodeOf })));
      const seconds = (performance.now() - seeding) / 1000;
      const phased = performance.now();
      await Promise.all(Array.from({ length: NAMESPACES }, (_, n) => setPodPhases(cp, `bench-${n}`, perNs, phaseOf, { prefix: `p${size}`, concurrency: 4 })));
      const phaseSeconds = (performance.now() - phased) / 1000;
      creation.push({ pods: size - have, seconds: round(seconds), phaseSeconds: round(phaseSeconds) });
      console.log(`breakdown: ${size} pods (created ${size - have} in ${seconds.toFixed(1)} s, phases set in ${phaseSeconds.toFixed(1)} s)`);
      have = size;

      // The API truth: whole objects as the admin, every field read from the object itself.
      const truth: Record<By, Groups> = { namespace: {}, phase: {}, node: {} };
      let cont = '';
      do {
        const res = await cp.admin.must(`/api/v1/pods?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, { timeoutMs: 300_000 });
        for (const pod of res.json.items as Array<{ metadata: { namespace: string }; spec: { nodeName?: string }; status: { phase: string } }>) {
          add(truth.namespace, pod.metadata.namespace);
          add(truth.phase, pod.status.phase);
          add(truth.node, pod.spec.nodeName || NO_NODE);
        }
        cont = res.json.metadata.continue ?? '';
      } while (cont);
      const same = (a: Groups, b: Groups) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
      const reps = size >= 100_000 ? 3 : 5;

      for (const by of ['node', 'namespace', 'phase'] as const) {
        // podcount end to end (warm instance, keep-alive).
        const path = `/?groupBy=${by}`;
        const fn = fns[by];
        // A fresh connection per block: a kept-alive one may have timed out while kubectl ran.
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        await timedGet(fn.port, path, agent);
        const runs = [];
        for (let i = 0; i < reps; i++) runs.push(await timedGet(fn.port, path, agent));
        const answer = JSON.parse(runs[0]!.body) as { groups: Groups; count: number; strategy: string };
        const log = fn.logs.filter((l) => l.msg === 'invocation').at(-1)!;
        if (answer.strategy !== podcountMethod[by]) throw new Error(`podcount used ${answer.strategy} for groupBy=${by}`);
        agent.destroy();
        rows.push({ pods: size, groupBy: by, method: `podcount (${answer.strategy})`, shipped: true, ms: round(median(runs.map((r) => r.ms)), 1), bytes: Number(log['apiBytes']), requests: Number(log['apiRequests']), peakRssMb: peakRssMb(fn.child.pid!), correct: same(answer.groups, truth[by]) && answer.count === size });

        for (const m of methods[by]) {
          const times: number[] = [];
          let groups: Groups = {};
          for (let i = 0; i < (size >= 100_000 && !m.shipped ? 1 : reps); i++) {
            requests = 0;
            bytes = 0;
            const t = performance.now();
            groups = await m.run();
            times.push(performance.now() - t);
          }
          rows.push({ pods: size, groupBy: by, method: m.name, shipped: m.shipped, ms: round(median(times), 1), bytes, requests, peakRssMb: null, correct: same(groups, truth[by]) });
        }

        const k = kubectl(cp.binaries.kubectl, kubeconfig, scratch, kubectlColumn[by]);
        rows.push({ pods: size, groupBy: by, method: `kubectl get pods -A -o custom-columns=X:${kubectlColumn[by]} | sort | uniq -c`, shipped: false, ms: round(k.ms, 1), bytes: null, requests: null, peakRssMb: k.peakRssMb, correct: same(k.groups, truth[by]) });
        table(`groupBy=${by} at ${size} pods (median ms; bytes from the API server; peak RSS)`, ['method', 'ms', 'bytes', 'requests', 'peak RSS MB', 'correct'],
          rows.filter((r) => r.pods === size && r.groupBy === by).map((r) => [r.method, r.ms, r.bytes ?? '-', r.requests ?? '-', r.peakRssMb ?? '-', r.correct ? 'yes' : 'NO']));
      }
    }
    saveResult('breakdown', { sizes: SIZES, namespaces: NAMESPACES, nodes: NODES, pageSize: PAGE, creation, rows });
    client.close();
    sa.cleanup();
  } finally {
    for (const fn of started) await fn.stop();
    rmSync(scratch, { recursive: true, force: true });
    await cp.stop();
  }
}

/** What a user does: kubectl prints one column, sort | uniq -c counts it; timed around the pipeline, kubectl's peak RSS from GNU time. */
function kubectl(bin: string, kubeconfig: string, scratch: string, column: string): { ms: number; groups: Groups; peakRssMb: number } {
  const rssFile = join(scratch, 'kubectl.rss');
  const started = performance.now();
  const out = execFileSync('bash', ['-c', 'set -o pipefail; /usr/bin/time -f %M -o "$0" "$@" | sort | uniq -c', rssFile, bin, '--kubeconfig', kubeconfig, 'get', 'pods', '-A', '-o', `custom-columns=X:${column}`, '--no-headers'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = performance.now() - started;
  const groups: Groups = {};
  for (const line of out.trim().split('\n')) {
    const m = /^\s*(\d+) (.*)$/.exec(line);
    if (m) groups[m[2]!] = Number(m[1]);
  }
  return { ms, groups, peakRssMb: round(Number(readFileSync(rssFile, 'utf8').trim()) / 1024) };
}

if (import.meta.main) await breakdown();
