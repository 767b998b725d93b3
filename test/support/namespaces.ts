// Namespaces and ServiceAccounts, created idempotently as the admin.
import type { ControlPlane } from './controlplane.ts';

/**
 * Creates the namespace, or adds `labels` to the existing one (other labels are kept).
 * Tests never delete namespaces: without a controller-manager they stay Terminating forever.
 */
export async function createNamespace(cp: ControlPlane, name: string, labels: Record<string, string> = {}): Promise<void> {
  const res = await cp.admin.must('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } }, [201, 409]);
  if (res.status === 409 && Object.keys(labels).length > 0) {
    await cp.admin.must(`/api/v1/namespaces/${encodeURIComponent(name)}`, {
      method: 'PATCH', body: { metadata: { labels } }, headers: { 'content-type': 'application/merge-patch+json' },
    });
  }
}

/** Idempotent: an existing ServiceAccount is left as it is. */
export async function createServiceAccount(cp: ControlPlane, namespace: string, name: string): Promise<void> {
  await cp.admin.must(`/api/v1/namespaces/${namespace}/serviceaccounts`, { method: 'POST', body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } } }, [201, 409]);
}
