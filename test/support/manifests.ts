// Server-side apply of YAML or objects, as `kubectl apply --server-side --force-conflicts` does
// it: the resource path from discovery (so CRDs and custom resources work), strict field
// validation, and the server's own message on failure.
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from './controlplane.ts';
import { FIELD_MANAGER } from './defaults.ts';
import { waitFor } from './poll.ts';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface Served {
  resource: string;
  namespaced: boolean;
}

/** Discovery per control plane and group/version; refetched on a miss (a CRD installed since). */
const discovery = new WeakMap<ControlPlane, Map<string, Served>>();

function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

async function served(cp: ControlPlane, apiVersion: string, kind: string): Promise<Served> {
  let cache = discovery.get(cp);
  if (!cache) discovery.set(cp, (cache = new Map()));
  const key = `${apiVersion}/${kind}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const res = await cp.admin.request(groupVersionPath(apiVersion));
  if (res.status === 200) {
    for (const r of res.json.resources as Array<{ name: string; kind: string; namespaced: boolean }>) {
      if (!r.name.includes('/')) cache.set(`${apiVersion}/${r.kind}`, { resource: r.name, namespaced: r.namespaced });
    }
  }
  const found = cache.get(key);
  if (!found) throw new Error(`the API server does not serve ${kind} in ${apiVersion} (discovery: ${res.status})`);
  return found;
}

/** The object's URL path; `namespace` fills in for namespaced objects that name none. */
export async function objectPath(cp: ControlPlane, o: KubeObject, namespace?: string): Promise<string> {
  const { resource, namespaced } = await served(cp, o.apiVersion, o.kind);
  const ns = o.metadata.namespace ?? namespace ?? 'default';
  return `${groupVersionPath(o.apiVersion)}${namespaced ? `/namespaces/${ns}` : ''}/${resource}/${o.metadata.name}`;
}

export function parseManifests(yamlText: string): KubeObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`invalid YAML: ${d.errors[0]!.message}`);
      return d.toJS() as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

/**
 * Server-side apply of each object, in order (fieldManager podcount-test, force, fieldValidation
 * Strict, so unknown or duplicate fields fail). With dryRun the server runs admission and
 * validation but stores nothing. A CRD is waited for until it is Established, so custom
 * resources later in the same list apply. Errors carry the server's message and the object.
 */
export async function applyManifests(cp: ControlPlane, manifests: string | KubeObject[], opts: { dryRun?: boolean; namespace?: string } = {}): Promise<KubeObject[]> {
  const objects = typeof manifests === 'string' ? parseManifests(manifests) : manifests;
  const applied: KubeObject[] = [];
  for (const o of objects) {
    const { namespaced } = await served(cp, o.apiVersion, o.kind);
    const body = namespaced && !o.metadata.namespace && opts.namespace ? { ...o, metadata: { ...o.metadata, namespace: opts.namespace } } : o;
    const params = new URLSearchParams({ fieldManager: FIELD_MANAGER, force: 'true', fieldValidation: 'Strict' });
    if (opts.dryRun) params.set('dryRun', 'All');
    const path = `${await objectPath(cp, body, opts.namespace)}?${params}`;
    // JSON is YAML: the apply-patch+yaml media type takes it as is.
    const res = await cp.admin.request(path, { method: 'PATCH', body: JSON.stringify(body), headers: { 'content-type': 'application/apply-patch+yaml' } });
    if (res.status !== 200 && res.status !== 201) {
      const where = `${o.kind} ${body.metadata.namespace && namespaced ? `${body.metadata.namespace}/` : ''}${o.metadata.name}`;
      throw new Error(`applying ${where}: ${res.status} ${res.json?.message ?? res.text.slice(0, 500)}`);
    }
    applied.push(res.json as KubeObject);
    if (o.kind === 'CustomResourceDefinition' && o.apiVersion.startsWith('apiextensions.k8s.io/') && !opts.dryRun) {
      await waitForEstablished(cp, o.metadata.name);
    }
  }
  return applied;
}

/** A CRD serves its resources once Established (usually within a second). */
export async function waitForEstablished(cp: ControlPlane, name: string, timeoutMs = 30_000): Promise<void> {
  let conditions: Array<{ type: string; status: string; message?: string }> = [];
  await waitFor(async () => {
    const res = await cp.admin.request(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    conditions = res.json?.status?.conditions ?? [];
    return conditions.some((c) => c.type === 'Established' && c.status === 'True');
  }, { timeoutMs, what: () => `CRD ${name} to be Established: ${JSON.stringify(conditions)}` });
}
