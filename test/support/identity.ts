// A ServiceAccount as podcount sees it in a pod: the account, optionally a grant to list pods,
// a real bound token from the TokenRequest API, and the mounted folder (token, ca.crt,
// namespace) plus the KUBERNETES_SERVICE_* variables the kubelet would set.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trackDir } from './cleanup.ts';
import type { ControlPlane } from './controlplane.ts';
import { inClusterEnv, mintToken, writeServiceAccountDir } from './in-cluster.ts';
import { applyManifests } from './manifests.ts';
import { createNamespace, createServiceAccount } from './namespaces.ts';

export type Grant = 'cluster' | 'namespace' | 'none';

export interface PodcountIdentity {
  namespace: string;
  name: string;
  username: string;
  token: string;
  /** The folder mounted at /var/run/secrets/kubernetes.io/serviceaccount in a pod. */
  dir: string;
  /** Environment that makes the function take its in-cluster path against this control plane. */
  env: Record<string, string>;
  /** Mints a new token (bound to a new Secret when asked) and rewrites the token file, as the kubelet does. */
  rotate(opts?: { boundSecret?: string }): Promise<string>;
  cleanup(): void;
}

export async function setUpServiceAccount(cp: ControlPlane, namespace: string, name: string, grant: Grant, opts: { boundSecret?: string } = {}): Promise<PodcountIdentity> {
  await createNamespace(cp, namespace);
  await createServiceAccount(cp, namespace, name);
  await grantPodList(cp, namespace, name, grant);
  const dir = mkdtempSync(join(tmpdir(), 'podcount-sa-'));
  // Removed at exit even if a test never calls cleanup().
  const untrack = trackDir(dir);
  const write = async (o: { boundSecret?: string }) => {
    const token = await mintToken(cp, namespace, name, o);
    await writeServiceAccountDir(dir, { token, caPem: cp.caPem, namespace });
    return token;
  };
  const identity: PodcountIdentity = {
    namespace,
    name,
    username: `system:serviceaccount:${namespace}:${name}`,
    token: await write(opts),
    dir,
    env: { ...inClusterEnv(cp), PODCOUNT_SERVICEACCOUNT_DIR: dir },
    async rotate(o = {}) {
      identity.token = await write(o);
      return identity.token;
    },
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      untrack();
    },
  };
  return identity;
}

/** The least privilege podcount needs: list pods, cluster-wide or in its own namespace. */
export async function grantPodList(cp: ControlPlane, namespace: string, name: string, grant: Grant): Promise<void> {
  if (grant === 'none') return;
  const rule = { apiGroups: [''], resources: ['pods'], verbs: ['list'] };
  const subject = { kind: 'ServiceAccount', name, namespace };
  const objects = grant === 'cluster'
    ? [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'test-pod-lister' }, rules: [rule] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `test-pod-lister-${namespace}-${name}` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'test-pod-lister' }, subjects: [subject] },
      ]
    : [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'test-pod-lister', namespace }, rules: [rule] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `test-pod-lister-${name}`, namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'test-pod-lister' }, subjects: [subject] },
      ];
  await applyManifests(cp, objects);
}

/** Deletes the grant made by grantPodList (RBAC revoked). */
export async function revokePodList(cp: ControlPlane, namespace: string, name: string, grant: Exclude<Grant, 'none'>): Promise<void> {
  const path = grant === 'cluster'
    ? `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/test-pod-lister-${namespace}-${name}`
    : `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings/test-pod-lister-${name}`;
  const res = await cp.admin.request(path, { method: 'DELETE' });
  if (res.status !== 200 && res.status !== 404) throw new Error(`revoking ${path}: ${res.status} ${res.text}`);
}
