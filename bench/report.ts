// bench/results/summary.md from the result files: the tables and the targets of DESIGN §7, each
// with the figure reached. The README's Performance section is this file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadResult, RESULTS, round } from './lib.ts';
import type { BreakdownRow } from './breakdown.ts';
import type { LoadRow } from './load.ts';
import type { ScaleRow } from './scale.ts';

interface Cold { measuredAt: string; rounds: number; results: Array<{ name: string; medianMs: number; p90Ms: number; ratio: number }> }
interface Scale { measuredAt: string; creation: Array<{ pods: number; seconds: number; perSecond: number }>; rows: ScaleRow[]; representations: Array<{ pods: number; representation: string; bytesPer500: number }> }
interface PodStart { rounds: number; results: Array<{ name: string; medianMs: number; ratio: number; all: number[] }>; imageBytes: { podcount: number; hello: number }; podcountRssMb: number }
interface FromZero { rounds: number; results: Array<{ name: string; medianMs: number; ratio: number; all: number[]; phases: { toScheduled: number; toSandbox: number; toContainer: number; toAnswer: number } }>; warm: Record<string, number> }
interface Breakdown { measuredAt: string; namespaces: number; nodes: number; pageSize: number; creation: Array<{ pods: number; seconds: number; phaseSeconds: number }>; rows: BreakdownRow[] }
interface Load { measuredAt: string; pods: number; rounds: number; roundSeconds: number; results: LoadRow[] }

const cell = (c: string | number) => String(c).replaceAll('|', '\\|');
const md = (headers: string[], rows: Array<Array<string | number>>) =>
  [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
const kb = (b: number | null) => (b === null ? '—' : b < 10_000 ? `${b} B` : b < 10_000_000 ? `${round(b / 1024)} KB` : `${round(b / 1048576)} MB`);
const ms = (x: number) => (x >= 1000 ? `${round(x / 1000, 2)} s` : `${x} ms`);

export function report(): string {
  const cold = loadResult<Cold>('coldstart');
  const scale = loadResult<Scale>('scale');
  const load = loadResult<Load>('load');
  const podStart = loadResult<PodStart>('podstart');
  const fromZero = loadResult<FromZero>('fromzero');
  const zeroPodcount = fromZero.results.find((r) => r.name.startsWith('podcount'))!;
  const row = (pods: number, method: string, filtered: boolean) => scale.rows.find((r) => r.pods === pods && r.method.startsWith(method) && r.filtered === filtered)!;
  const max = Math.max(...scale.rows.map((r) => r.pods));
  const floor = cold.results[0]!;
  const esmFloor = cold.results.find((r) => r.name.includes('ES module'))!;
  const podcountCold = cold.results.find((r) => r.name.startsWith('podcount: npm start'))!;
  const eager = cold.results.find((r) => r.name.startsWith('podcount with /metrics eager'));
  const unfiltered = row(max, 'podcount', false);
  const raw = row(max, 'one raw', false);
  const filtered = row(max, 'podcount', true);
  const kubectlFiltered = row(max, 'kubectl', true);
  const peak = Math.max(...scale.rows.filter((r) => r.method === 'podcount').map((r) => r.peakRssMb ?? 0));
  const burst = load.results.find((r) => r.connections === 200 && r.path === '/' && r.auth === 'none')!;
  const checked = load.results.find((r) => r.connections === 200 && r.path === '/' && r.auth === 'kubernetes')!;
  const authRatio = checked.requestsPerSecond / burst.requestsPerSecond;
  const checkedRows = load.results.filter((r) => r.auth === 'kubernetes');
  const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');
  const breakdown = loadResult<Breakdown>('breakdown');
  const bdMax = Math.max(...breakdown.rows.map((r) => r.pods));
  const bdRow = (pods: number, by: string, method: string) => breakdown.rows.find((r) => r.pods === pods && r.groupBy === by && r.method.startsWith(method))!;
  const bdRatios = (['namespace', 'phase', 'node'] as const).map((by) => ({ by, podcount: bdRow(bdMax, by, 'podcount'), kubectl: bdRow(bdMax, by, 'kubectl') }));
  const bdRss = (pods: number) => Math.max(...breakdown.rows.filter((r) => r.pods === pods && r.method.startsWith('podcount')).map((r) => r.peakRssMb ?? 0));
  const bdSizes = [...new Set(breakdown.rows.map((r) => r.pods))];

  const text = `### Targets (DESIGN §7), as measured

| target | measured | |
|---|---|---|
| cold start ≤ 1.25× the bare \`node:http\` floor | ${podcountCold.medianMs} ms: ${round(podcountCold.medianMs / esmFloor.medianMs, 2)}× the ES-module floor (${esmFloor.medianMs} ms), ${podcountCold.ratio}× the CommonJS floor (${floor.medianMs} ms) | ${verdict(podcountCold.medianMs / esmFloor.medianMs <= 1.25)} vs the ESM floor, ${verdict(podcountCold.ratio <= 1.25)} vs the CommonJS floor |
| unfiltered count at ${max / 1000}k pods ≤ 1.2× one \`limit=1\` request | ${unfiltered.ms} ms vs ${raw.ms} ms: ${round(unfiltered.ms / raw.ms, 2)}× | ${verdict(unfiltered.ms / raw.ms <= 1.2)} |
| < 4 KB from the API server for it | ${unfiltered.bytes} B | ${verdict((unfiltered.bytes ?? 1e9) < 4096)} |
| peak RSS < 80 MB at every pod count, filtered or not | ${peak} MB at most | ${verdict(peak < 80)} |
| filtered count at ${max / 1000}k pods ≥ 10× faster than kubectl | ${ms(filtered.ms)} vs ${ms(kubectlFiltered.ms)}: ${round(kubectlFiltered.ms / filtered.ms, 1)}× | ${verdict(kubectlFiltered.ms / filtered.ms >= 10)} |
| breakdowns (\`groupBy\`) at ${bdMax / 1000}k pods ≥ 10× faster than kubectl \`… \\| sort \\| uniq -c\` | ${bdRatios.map((r) => `${r.by} ${ms(r.podcount.ms)} vs ${ms(r.kubectl.ms)}: ${round(r.kubectl.ms / r.podcount.ms, 1)}×`).join('; ')} | ${verdict(bdRatios.every((r) => r.kubectl.ms / r.podcount.ms >= 10))} |
| breakdowns: memory flat in the number of pods | podcount's peak RSS ${bdSizes.map((p) => `${bdRss(p)} MB at ${p / 1000}k`).join(', ')} | ${verdict(bdRss(bdMax) <= bdRss(bdSizes[1] ?? bdMax) * 1.15)} |
| scale from zero ≤ 1.1× a hello-world \`node:http\` Knative Service | ${ms(zeroPodcount.medianMs)}: ${zeroPodcount.ratio}× the floor (${ms(fromZero.results[0]!.medianMs)}) | ${verdict(zeroPodcount.ratio <= 1.1)} |
| 200 concurrent callers: zero errors, API lists bounded by coalescing | ${burst.errors} errors; ${burst.requestsPerSecond} answers/s from ${burst.apiListsPerSecond} API lists/s (${burst.answersPerApiList} answers per list) | ${verdict(burst.errors === 0)} |
| with caller authorization on: throughput within 10 % of off, reviews bounded by caching | ${checked.requestsPerSecond} vs ${burst.requestsPerSecond} answers/s: ${round(authRatio * 100)} %; ${Math.max(...checkedRows.map((r) => r.reviewsPerSecond))} reviews/s at most (TokenReviews + SubjectAccessReviews), ${checkedRows.reduce((n, r) => n + r.errors, 0)} errors | ${verdict(authRatio >= 0.9 && checkedRows.every((r) => r.errors === 0))} |

### Cold start (\`npm run bench -- coldstart\`, median of ${cold.rounds} interleaved rounds)

${md(['start', 'median', 'p90', '× CommonJS floor'], cold.results.map((r) => [r.name, `${r.medianMs} ms`, `${r.p90Ms} ms`, r.ratio]))}
${eager ? `
\`GET /metrics\` loads its exposition on the first scrape: a cold start pays ${podcountCold.medianMs} ms; with
the exposition on the start path it would pay ${eager.medianMs} ms (${round(eager.medianMs - podcountCold.medianMs, 1)} ms more).
` : ''}
### Counting at scale (\`npm run bench -- scale\`)

Pods are created through the API (32 concurrent keep-alive POSTs over 10 namespaces, half
labelled \`app=web\`): ${scale.creation.map((c) => `${c.pods} in ${c.seconds} s`).join(', ')} (${Math.min(...scale.creation.map((c) => c.perSecond))}–${Math.max(...scale.creation.map((c) => c.perSecond))} pods/s).
Time is the median of several counts on a warm instance (podcount end to end through its HTTP
endpoint); bytes are what the API server sent; RSS is the counting process's peak. Every count
matched the API truth.

${md(['pods', 'method', 'filter', 'time', 'bytes from the API server', 'peak RSS'], scale.rows.map((r) => [r.pods, r.method, r.filtered ? '`app=web`' : '—', ms(r.ms), kb(r.bytes), r.peakRssMb === null ? '—' : `${r.peakRssMb} MB`]))}

![count time and peak RSS against the pod count](bench/results/scale.png)

One list page of 500 pods matching \`app=web\`, by representation: ${scale.representations.filter((r) => r.pods === max).map((r) => `${r.representation} ${kb(r.bytesPer500)}`).join(', ')}.

### Breakdowns (\`npm run bench -- breakdown\`)

\`groupBy=namespace|phase|node\` over ${breakdown.namespaces} namespaces, ${breakdown.nodes} nodes plus one pod in 10 on none, one in 5 moved out of \`Pending\`
through the status subresource (created ${breakdown.creation.map((c) => `${c.pods} in ${c.seconds} s + ${c.phaseSeconds} s of phases`).join(', ')}).
Every candidate method was measured; **bold** is what podcount does. Time is the median of several runs (one for the
slower alternatives at ${bdMax / 1000}k); bytes and requests are what the API server sent for one breakdown; peak RSS is
podcount's own process (one per \`groupBy\`) or kubectl's. "correct": the groups equal the API truth (every pod read
whole, as the admin). The alternatives run in the benchmark's process, as podcount would make them, page size ${breakdown.pageSize}.

${md(['pods', 'groupBy', 'method', 'time', 'bytes from the API server', 'requests', 'peak RSS', 'correct'], breakdown.rows.map((r) => [r.pods, r.groupBy, r.shipped ? `**${r.method}**` : r.method, ms(r.ms), kb(r.bytes), r.requests ?? '—', r.peakRssMb === null ? '—' : `${r.peakRssMb} MB`, r.correct ? 'yes' : '**no**']))}

### Scale from zero (\`npm run bench -- fromzero\`, the real test node with Knative Serving 1.23, median of ${fromZero.rounds} interleaved rounds)

A request from a client pod to the revision at zero scale (Knative's activator holds it) until the
first correct answer, timed inside the client pod; both services are \`knative/base/service.yaml\`
with only the image (and name) changed. No Knative ingress runs here: requests go to the
revision's Service, which is where an ingress would send them too.

${md(['service', 'median', '× floor', 'runs'], fromZero.results.map((r) => [r.name, ms(r.medianMs), r.ratio, r.all.map(ms).join(', ')]))}

Where the time goes (medians; the components' own timestamps: the scheduler's event, containerd's CRI log lines, the answer):

![scale from zero, by phase](bench/results/fromzero.png)

${md(['service', 'activator → autoscaler → Deployment → scheduled', 'sandbox up (kubelet, containerd, CNI)', 'container started (runc)', 'process, readiness, activator → answer'], fromZero.results.map((r) => [r.name, ms(r.phases.toScheduled), ms(r.phases.toSandbox), ms(r.phases.toContainer), ms(r.phases.toAnswer)]))}

Warm, podcount (median of 10 sequential requests from a client pod, a new connection each):

${md(['path', 'median'], Object.entries(fromZero.warm).map(([k, v]) => [k, ms(v)]))}

### Pod start (\`npm run bench -- podstart\`, the real test node without Knative, median of ${podStart.rounds} interleaved rounds)

A bare pod of \`knative/base/service.yaml\`'s container created through the API, then polled every
20 ms through kube-apiserver's pod proxy until the first correct answer.

${md(['pod', 'median', '× floor', 'runs'], podStart.results.map((r) => [r.name, ms(r.medianMs), r.ratio, r.all.map(ms).join(', ')]))}

Images (OCI archives, compressed layers): podcount ${kb(podStart.imageBytes.podcount)}, the hello-world floor ${kb(podStart.imageBytes.hello)}, both nearly all the \`node\` binary. podcount's RSS in its pod after 20 counts: ${podStart.podcountRssMb} MB.

### Load (\`npm run bench -- load\`, ${load.pods} pods, one instance per mode)

Each row twice, side by side in one run: callers let in (\`PODCOUNT_AUTH=none\`) and callers checked
(\`kubernetes\`: one ServiceAccount token for every connection; reviews are what the API server
counted, TokenReviews plus SubjectAccessReviews). Answers/s and latencies are the medians of
${load.rounds} rounds of ${load.roundSeconds} s that alternate between the two modes (the machine is
shared, and its background load drifts); lists and reviews per second are over all of a mode's
rounds (a review's answer lasts 10 s of wall time, which the other mode's rounds share).

${md(['callers', 'query', 'auth', 'answers/s', 'p50', 'p99', 'errors', 'API lists/s', 'answers per API list', 'reviews/s'], load.results.map((r) => [r.connections, `\`${r.path}\``, r.auth, r.requestsPerSecond, `${r.p50Ms} ms`, `${r.p99Ms} ms`, r.errors, r.apiListsPerSecond, r.answersPerApiList, r.reviewsPerSecond]))}

Measured ${cold.measuredAt.slice(0, 10)}${load.measuredAt.slice(0, 10) !== cold.measuredAt.slice(0, 10) ? ` (load: ${load.measuredAt.slice(0, 10)})` : ''} on the 2-core development machine, Node ${process.version}, kube-apiserver 1.36.3.
`;
  writeFileSync(join(RESULTS, 'summary.md'), text);
  console.log(`report: ${join(RESULTS, 'summary.md')}`);
  return text;
}

if (import.meta.main) report();
