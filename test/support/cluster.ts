// What tests do to a control plane as its admin: namespaces, ServiceAccounts, manifests
// (server-side apply, strict field validation), bound tokens from the TokenRequest API, pods in
// bulk, and the API truth to compare counts against.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from './controlplane.ts';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export async function createNamespace(cp: ControlPlane, name: string, labels: Record<string, string> = {}): Promise<void> {
  await cp.admin.must('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } }, [201, 409]);
}

export async function createServiceAccount(cp: ControlPlane, namespace: string, name: string): Promise<void> {
  await cp.admin.must(`/api/v1/namespaces/${namespace}/serviceaccounts`, { method: 'POST', body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } } }, [201, 409]);
}

/** Discovery, cached per control plane: which resource path serves a kind, and is it namespaced. */
const discovery = new WeakMap<ControlPlane, Map<string, { resource: string; namespaced: boolean }>>();

async function resourceFor(cp: ControlPlane, apiVersion: string, kind: string): Promise<{ resource: string; namespaced: boolean }> {
  let cache = discovery.get(cp);
  if (!cache) discovery.set(cp, (cache = new Map()));
  const key = `${apiVersion}/${kind}`;
  const hit = cache.get(key);
  if (hit) return hit;
  // Fresh on a miss: CRDs installed moments ago appear here once established.
  const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const res = await cp.admin.must(path);
  for (const r of res.json.resources as Array<{ name: string; kind: string; namespaced: boolean }>) {
    if (!r.name.includes('/')) cache.set(`${apiVersion}/${r.kind}`, { resource: r.name, namespaced: r.namespaced });
  }
  const found = cache.get(key);
  if (!found) throw new Error(`the API server does not serve ${kind} in ${apiVersion}`);
  return found;
}

export async function objectPath(cp: ControlPlane, o: KubeObject, namespace?: string): Promise<string> {
  const { resource, namespaced } = await resourceFor(cp, o.apiVersion, o.kind);
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const ns = o.metadata.namespace ?? namespace ?? 'default';
  return `${base}${namespaced ? `/namespaces/${ns}` : ''}/${resource}/${o.metadata.name}`;
}

export function parseManifests(yamlText: string): KubeObject[] {
  return parseAllDocuments(yamlText).map((d) => d.toJS() as KubeObject | null).filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

/**
 * Server-side apply of each object (fieldValidation=Strict, so unknown fields fail), in order.
 * With dryRun the server runs admission and validation but stores nothing. Errors carry the
 * server's message and the object's kind/name.
 */
export async function applyManifests(cp: ControlPlane, manifests: string | KubeObject[], opts: { dryRun?: boolean; namespace?: string } = {}): Promise<KubeObject[]> {
  const objects = typeof manifests === 'string' ? parseManifests(manifests) : manifests;
  const applied: KubeObject[] = [];
  for (const o of objects) {
    const params = new URLSearchParams({ fieldManager: 'podcount-test', force: 'true', fieldValidation: 'Strict' });
    if (opts.dryRun) params.set('dryRun', 'All');
    const path = `${await objectPath(cp, o, opts.namespace)}?${params}`;
    const body = o.metadata.namespace || !opts.namespace ? o : { ...o, metadata: { ...o.metadata, namespace: opts.namespace } };
    const res = await cp.admin.request(path, { method: 'PATCH', body: JSON.stringify(body), headers: { 'content-type': 'application/apply-patch+yaml' } });
    if (res.status !== 200 && res.status !== 201) {
      throw new Error(`applying ${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}: ${res.status} ${res.json?.message ?? res.text}`);
    }
    applied.push(res.json as KubeObject);
  }
  return applied;
}

/**
 * A real bound ServiceAccount token (TokenRequest). With boundSecret, the token is bound to a
 * Secret of that name (created if needed): deleting the Secret revokes the token at once.
 */
export async function mintToken(cp: ControlPlane, namespace: string, serviceAccount: string, opts: { expirationSeconds?: number; boundSecret?: string } = {}): Promise<string> {
  const spec: Record<string, unknown> = { expirationSeconds: opts.expirationSeconds ?? 3600 };
  if (opts.boundSecret) {
    const created = await cp.admin.request(`/api/v1/namespaces/${namespace}/secrets`, { method: 'POST', body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: opts.boundSecret } } });
    const secret = created.status === 409 ? await cp.admin.must(`/api/v1/namespaces/${namespace}/secrets/${opts.boundSecret}`) : created;
    if (secret.status !== 200 && secret.status !== 201) throw new Error(`creating Secret ${opts.boundSecret}: ${secret.status} ${secret.text}`);
    spec['boundObjectRef'] = { apiVersion: 'v1', kind: 'Secret', name: opts.boundSecret, uid: secret.json.metadata.uid };
  }
  const res = await cp.admin.must(`/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {
    method: 'POST', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec },
  });
  return res.json.status.token as string;
}

/** The folder a pod sees at /var/run/secrets/kubernetes.io/serviceaccount. */
export async function writeServiceAccountDir(dir: string, files: { token: string; caPem: string; namespace: string }): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // Written as the kubelet does it: the token last, so a reader never sees a token without its CA.
  writeFileSync(join(dir, 'ca.crt'), files.caPem);
  writeFileSync(join(dir, 'namespace'), files.namespace);
  writeFileSync(join(dir, 'token.tmp'), files.token);
  renameSync(join(dir, 'token.tmp'), join(dir, 'token'));
}

/** The variables the kubelet sets in every container for the `kubernetes` Service. */
export function inClusterEnv(cp: ControlPlane): { KUBERNETES_SERVICE_HOST: string; KUBERNETES_SERVICE_PORT: string } {
  return { KUBERNETES_SERVICE_HOST: cp.host, KUBERNETES_SERVICE_PORT: String(cp.port) };
}

export function podManifest(namespace: string, name: string, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels },
    // Never scheduled (no scheduler, no kubelet): the object is all a count needs. Restricted,
    // so pods can be created in namespaces that enforce the restricted Pod Security profile.
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  };
}

/** Creates n pods concurrently over keep-alive connections; reports the rate reached. */
export async function createPods(cp: ControlPlane, namespace: string, n: number, opts: { labels?: Record<string, string>; concurrency?: number; prefix?: string } = {}): Promise<{ created: number; seconds: number; perSecond: number }> {
  await createNamespace(cp, namespace);
  const started = performance.now();
  const prefix = opts.prefix ?? 'pod';
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const res = await cp.admin.request(`/api/v1/namespaces/${namespace}/pods`, { method: 'POST', body: podManifest(namespace, `${prefix}-${i}`, opts.labels) });
      if (res.status !== 201) throw new Error(`creating pod ${prefix}-${i}: ${res.status} ${res.text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 32, n) }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { created: n, seconds, perSecond: n / Math.max(seconds, 1e-9) };
}

export async function deletePods(cp: ControlPlane, namespace: string, which: string[] | { labelSelector: string }): Promise<void> {
  if (Array.isArray(which)) {
    // Zero grace: without a kubelet, a graceful delete would leave the pod Terminating forever.
    await Promise.all(which.map((name) => cp.admin.must(`/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`, { method: 'DELETE' }, [200, 404])));
    return;
  }
  await cp.admin.must(`/api/v1/namespaces/${namespace}/pods?gracePeriodSeconds=0&labelSelector=${encodeURIComponent(which.labelSelector)}`, { method: 'DELETE' });
}

/** The truth: a full paginated list as admin, counted item by item. */
export async function countPods(cp: ControlPlane, q: { namespace?: string; labelSelector?: string; fieldSelector?: string }): Promise<number> {
  let count = 0;
  let cont = '';
  do {
    const params = new URLSearchParams({ limit: '500' });
    if (q.labelSelector) params.set('labelSelector', q.labelSelector);
    if (q.fieldSelector) params.set('fieldSelector', q.fieldSelector);
    if (cont) params.set('continue', cont);
    const path = q.namespace ? `/api/v1/namespaces/${q.namespace}/pods` : '/api/v1/pods';
    const res = await cp.admin.must(`${path}?${params}`);
    count += (res.json.items as unknown[]).length;
    cont = res.json.metadata.continue ?? '';
  } while (cont);
  return count;
}
