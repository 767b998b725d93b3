// Pods in bulk for counting tests and benchmarks, and the API truth to compare counts with.
// Pods here are bare API objects: no scheduler or kubelet runs, so they stay Pending forever,
// which is all a count needs.
import { setTimeout as sleep } from 'node:timers/promises';
import type { BearerResponse } from './bearer-client.ts';
import type { ControlPlane } from './controlplane.ts';
import { COUNT_PAGE_SIZE, CREATE_PODS_CONCURRENCY, POD_IMAGE } from './defaults.ts';
import type { KubeObject } from './manifests.ts';
import { createNamespace } from './namespaces.ts';

const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

export function podManifest(namespace: string, name: string, labels: Record<string, string> = {}, nodeName?: string): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels },
    // Restricted, so pods can be created in namespaces that enforce the restricted Pod Security profile.
    spec: {
      // Bound at creation (no scheduler runs): what groupBy=node reads.
      ...(nodeName ? { nodeName } : {}),
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'app', image: POD_IMAGE, securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  };
}

/** Runs `task(i)` for i in [0, n) with at most `concurrency` in flight. */
async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, worker));
}

/** A write retried while the server sheds load (429, or 5xx during etcd hiccups), honouring Retry-After. */
async function withRetries(what: string, send: () => Promise<BearerResponse>, ok: (status: number, attempt: number) => boolean): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const res = await send();
    if (ok(res.status, attempt)) return;
    if ((res.status === 429 || res.status >= 500) && attempt < 8) {
      await sleep(Math.min(Number(res.headers.get('retry-after') ?? 0) * 1000 || 100 * 2 ** attempt, 5000));
      continue;
    }
    throw new Error(`${what}: ${res.status} ${res.json?.message ?? res.text.slice(0, 300)}`);
  }
}

/**
 * Creates n pods named `<prefix>-<i>` in the namespace (created if needed), concurrently over
 * keep-alive connections; reports the rate reached. Scales to 100k (memory stays flat).
 */
export async function createPods(cp: ControlPlane, namespace: string, n: number, opts: { labels?: Record<string, string>; concurrency?: number; prefix?: string; nodeName?: (i: number) => string | undefined } = {}): Promise<{ created: number; seconds: number; perSecond: number }> {
  await createNamespace(cp, namespace);
  const prefix = opts.prefix ?? 'pod';
  const path = `/api/v1/namespaces/${namespace}/pods`;
  const started = performance.now();
  await pool(n, opts.concurrency ?? CREATE_PODS_CONCURRENCY, (i) => {
    const body = JSON.stringify(podManifest(namespace, `${prefix}-${i}`, opts.labels, opts.nodeName?.(i)));
    // 409 on a retry means the first attempt did land.
    return withRetries(`creating pod ${namespace}/${prefix}-${i}`, () => cp.admin.request(path, { method: 'POST', body }), (s, attempt) => s === 201 || (s === 409 && attempt > 1));
  });
  const seconds = (performance.now() - started) / 1000;
  return { created: n, seconds, perSecond: n / Math.max(seconds, 1e-9) };
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
export const POD_PHASES: readonly PodPhase[] = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];

/**
 * Sets `status.phase` of pods `<prefix>-<i>` through the status subresource (no kubelet runs to do
 * it; a created pod is always Pending). `phase(i)` undefined leaves pod i Pending.
 */
export async function setPodPhases(cp: ControlPlane, namespace: string, n: number, phase: (i: number) => PodPhase | undefined, opts: { concurrency?: number; prefix?: string } = {}): Promise<void> {
  const prefix = opts.prefix ?? 'pod';
  await pool(n, opts.concurrency ?? CREATE_PODS_CONCURRENCY, async (i) => {
    const p = phase(i);
    if (!p || p === 'Pending') return;
    await withRetries(`setting phase of pod ${namespace}/${prefix}-${i}`, () => cp.admin.request(`/api/v1/namespaces/${namespace}/pods/${prefix}-${i}/status`, {
      method: 'PATCH', body: JSON.stringify({ status: { phase: p } }), headers: { 'content-type': 'application/merge-patch+json' },
    }), (s) => s === 200);
  });
}

/**
 * Deletes pods by name or by label selector. Zero grace: pods never bound to a node go at once
 * anyway, and nothing (no kubelet) would finish a graceful deletion.
 */
export async function deletePods(cp: ControlPlane, namespace: string, which: string[] | { labelSelector: string }, opts: { concurrency?: number } = {}): Promise<void> {
  if (Array.isArray(which)) {
    await pool(which.length, opts.concurrency ?? CREATE_PODS_CONCURRENCY, (i) => withRetries(
      `deleting pod ${namespace}/${which[i]}`,
      () => cp.admin.request(`/api/v1/namespaces/${namespace}/pods/${which[i]}?gracePeriodSeconds=0`, { method: 'DELETE' }),
      (s) => s === 200 || s === 404,
    ));
    return;
  }
  const selector = encodeURIComponent(which.labelSelector);
  await withRetries(
    `deleting pods ${namespace} -l ${which.labelSelector}`,
    () => cp.admin.request(`/api/v1/namespaces/${namespace}/pods?gracePeriodSeconds=0&labelSelector=${selector}`, { method: 'DELETE', headers: { accept: METADATA_LIST }, timeoutMs: 300_000 }),
    (s) => s === 200,
  );
}

type PodQuery = { namespace?: string; labelSelector?: string; fieldSelector?: string };

/**
 * Every page of pods matching the query, as the admin. Paginated, except cluster-wide with a field
 * selector: there kube-apiserver 1.36 hands out continue tokens that skip pages (test/README.md),
 * and the truth must not. `resourceVersion` reads that snapshot (the continue token carries it on).
 */
async function* truthPages(cp: ControlPlane, q: PodQuery, accept: string | undefined, resourceVersion?: string): AsyncGenerator<unknown[]> {
  const path = q.namespace ? `/api/v1/namespaces/${encodeURIComponent(q.namespace)}/pods` : '/api/v1/pods';
  const paginate = !!q.namespace || !q.fieldSelector;
  let cont = '';
  do {
    const params = new URLSearchParams();
    if (paginate) params.set('limit', String(COUNT_PAGE_SIZE));
    if (q.labelSelector) params.set('labelSelector', q.labelSelector);
    if (q.fieldSelector) params.set('fieldSelector', q.fieldSelector);
    if (cont) params.set('continue', cont);
    else if (resourceVersion) {
      params.set('resourceVersion', resourceVersion);
      params.set('resourceVersionMatch', 'Exact');
    }
    const res = await cp.admin.must(`${path}?${params}`, accept ? { headers: { accept } } : {});
    // A metadata-only list with no items says `"items": null` (PodList says `[]`).
    yield (res.json.items ?? []) as unknown[];
    cont = res.json.metadata.continue ?? '';
  } while (cont);
}

/** The API truth to compare podcount's counts with, counted item by item (metadata only, to keep 100k pods cheap). */
export async function apiTruthCount(cp: ControlPlane, q: PodQuery): Promise<number> {
  let count = 0;
  for await (const items of truthPages(cp, q, METADATA_LIST)) count += items.length;
  return count;
}

/**
 * The API truth for a breakdown: every pod matching the query in whole objects (spec and status
 * included), grouped the way podcount groups them, at `resourceVersion` when given.
 */
export async function apiTruthGroups(cp: ControlPlane, q: PodQuery, by: 'namespace' | 'phase' | 'node', resourceVersion?: string): Promise<Record<string, number>> {
  const groups: Record<string, number> = {};
  for await (const items of truthPages(cp, q, undefined, resourceVersion)) {
    for (const pod of items as Array<{ metadata: { namespace: string }; spec: { nodeName?: string }; status: { phase?: string } }>) {
      const name = by === 'namespace' ? pod.metadata.namespace : by === 'node' ? pod.spec.nodeName || '<none>' : pod.status.phase ?? '<other>';
      groups[name] = (groups[name] ?? 0) + 1;
    }
  }
  return groups;
}
