// What a pod is given to reach its cluster, made for a test control plane: a bound ServiceAccount
// token from the TokenRequest API, the folder it is mounted in, and the KUBERNETES_SERVICE_*
// variables. Together they put a client (podcount, client-node) on its in-cluster path.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from './controlplane.ts';
import { TOKEN_EXPIRATION_SECONDS } from './defaults.ts';

/**
 * A real ServiceAccount token from the TokenRequest API (minimum expiry 600 s). With
 * boundSecret, the token is bound to a Secret of that name (created if needed): once the Secret
 * is deleted, kube-apiserver refuses the token (401), after its 10 s cache of successful
 * authentications at most (see test/README.md). With audiences, a token for those instead of the
 * API server (a projected volume's `audience`, `kubectl create token --audience`).
 */
export async function mintToken(cp: ControlPlane, namespace: string, serviceAccount: string, opts: { expirationSeconds?: number; boundSecret?: string; audiences?: string[] } = {}): Promise<string> {
  const spec: Record<string, unknown> = { expirationSeconds: opts.expirationSeconds ?? TOKEN_EXPIRATION_SECONDS };
  if (opts.audiences) spec['audiences'] = opts.audiences;
  if (opts.boundSecret) {
    const secrets = `/api/v1/namespaces/${namespace}/secrets`;
    const created = await cp.admin.must(secrets, { method: 'POST', body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: opts.boundSecret } } }, [201, 409]);
    const secret = created.status === 409 ? await cp.admin.must(`${secrets}/${opts.boundSecret}`) : created;
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
  // The token last, and by rename as the kubelet does: a reader never sees a half-written token.
  writeFileSync(join(dir, 'ca.crt'), files.caPem);
  writeFileSync(join(dir, 'namespace'), files.namespace);
  writeFileSync(join(dir, 'token.tmp'), files.token, { mode: 0o600 });
  renameSync(join(dir, 'token.tmp'), join(dir, 'token'));
}

/** The variables the kubelet sets in every container for the `kubernetes` Service. */
export function inClusterEnv(cp: ControlPlane): { KUBERNETES_SERVICE_HOST: string; KUBERNETES_SERVICE_PORT: string } {
  return { KUBERNETES_SERVICE_HOST: cp.host, KUBERNETES_SERVICE_PORT: String(cp.port) };
}
