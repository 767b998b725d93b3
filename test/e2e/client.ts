// Requests made from inside the cluster: `kubectl exec` into the client pod, which runs the
// client image's curl-like /client.mjs against a Service or pod address. What comes back is the
// answer any workload in that pod would see.
import type { NodeCluster } from '../node/node-cluster.ts';

export interface InPodResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** body parsed as JSON, or undefined. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface ClientPod {
  namespace: string;
  name: string;
}

export async function requestFrom(cluster: NodeCluster, pod: ClientPod, url: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<InPodResponse> {
  const args = ['exec', '-n', pod.namespace, pod.name, '--', '/nodejs/bin/node', '/client.mjs', url];
  if (o.method) args.push('-X', o.method);
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  if (o.body !== undefined) args.push('-d', o.body);
  return parseClientOutput(await cluster.kubectl(args));
}

/** client.mjs prints the status, the headers that matter, a blank line, then the body. */
export function parseClientOutput(out: string): InPodResponse {
  const blank = out.indexOf('\n\n');
  const head = (blank < 0 ? out : out.slice(0, blank)).split('\n');
  const body = blank < 0 ? '' : out.slice(blank + 2);
  const status = Number(head[0]);
  if (!Number.isInteger(status)) throw new Error(`client.mjs printed no status:\n${out}`);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status, headers, body, json };
}

/**
 * Waits until a Service accepts connections from the client pod, each attempt a new connection.
 * A Deployment's rollout is done when its pod is Ready; kube-proxy programs the Service and its
 * endpoint a moment later (an iptables sync, seconds on a busy machine). Until then a connection
 * to the ClusterIP is refused (no endpoint yet) or, for a Service kube-proxy has not seen at all,
 * routed out of the node and lost, and its conntrack entry keeps every retransmitted SYN on that
 * path: a client that connected too early hangs for good (seen in CI: 30 s timeouts), one that
 * waited here does not.
 */
export async function waitForService(cluster: NodeCluster, pod: ClientPod, host: string, port = 80, timeoutMs = 20_000): Promise<void> {
  const script = `const net = require('node:net'); const end = Date.now() + ${timeoutMs};
    (function attempt() {
      const s = net.connect(${port}, ${JSON.stringify(host)}, () => { s.destroy(); console.log('connected'); });
      s.on('error', (e) => { if (Date.now() > end) { console.log('still ' + e.code); process.exit(1); } setTimeout(attempt, 100); });
    })();`;
  const out = await cluster.kubectl(['exec', '-n', pod.namespace, pod.name, '--', '/nodejs/bin/node', '-e', script]).catch((e: unknown) => String(e));
  if (!out.includes('connected')) throw new Error(`${host}:${port} never accepted a connection from ${pod.namespace}/${pod.name}: ${out}`);
}

export interface TimedAnswer {
  status: number;
  /** Request sent -> whole answer received, measured inside the pod. */
  ms: number;
  body: string;
}

/** `n` requests sent at once from inside the client pod, each timed there (no kubectl in the figure). */
export async function concurrentRequestsFrom(cluster: NodeCluster, pod: ClientPod, url: string, n: number, headers: Record<string, string> = {}): Promise<TimedAnswer[]> {
  const script = `const n = ${n}; const url = ${JSON.stringify(url)}; const headers = ${JSON.stringify(headers)};
    Promise.all(Array.from({ length: n }, async () => {
      const t = performance.now();
      try {
        const res = await fetch(url, { headers, signal: AbortSignal.timeout(120000) });
        const body = await res.text();
        return { status: res.status, ms: performance.now() - t, body };
      } catch (e) { return { status: 0, ms: performance.now() - t, body: String(e) }; }
    })).then((r) => console.log(JSON.stringify(r)));`;
  const out = await cluster.kubectl(['exec', '-n', pod.namespace, pod.name, '--', '/nodejs/bin/node', '-e', script]);
  return JSON.parse(out) as TimedAnswer[];
}
