// The test cluster's key material, as kubeadm lays it out: one CA, kube-apiserver's serving
// certificate (reachable as the `kubernetes` Service from pods and at the node's address from the
// host), the kubelet's serving certificate, client certificates for each component (their
// identities are the users the bootstrap RBAC policy already binds) and the ServiceAccount
// signing key pair. openssl is on every Debian; Node's crypto cannot issue X.509 certificates.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ClientCert {
  cert: string;
  key: string;
}

export interface ClusterPki {
  dir: string;
  caCert: string;
  caKey: string;
  caPem: string;
  apiserver: ClientCert;
  kubeletServing: ClientCert;
  /** kube-apiserver's identity towards kubelets (bound to system:kubelet-api-admin). */
  apiserverKubeletClient: ClientCert;
  kubelet: ClientCert;
  controllerManager: ClientCert;
  scheduler: ClientCert;
  kubeProxy: ClientCert;
  saPublicKey: string;
  saPrivateKey: string;
}

/** Who each client certificate says it is: CN is the user, O the groups. */
export const IDENTITIES = {
  apiserverKubeletClient: { cn: 'kube-apiserver-kubelet-client' },
  kubelet: (node: string) => ({ cn: `system:node:${node}`, o: 'system:nodes' }),
  controllerManager: { cn: 'system:kube-controller-manager' },
  scheduler: { cn: 'system:kube-scheduler' },
  kubeProxy: { cn: 'system:kube-proxy' },
} as const;

export function generatePki(root: string, o: { nodeName: string; nodeIp: string; serviceIp: string }): ClusterPki {
  const dir = join(root, 'pki');
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=podcount-test-cluster-ca', '-keyout', f('ca.key'), '-out', f('ca.crt'));
  const issue = (name: string, subject: { cn: string; o?: string }, ext: string): ClientCert => {
    const subj = `${subject.o ? `/O=${subject.o}` : ''}/CN=${subject.cn}`;
    openssl('req', ...ec, '-subj', subj, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    writeFileSync(f(`${name}.ext`), ext);
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`));
    return { cert: f(`${name}.crt`), key: f(`${name}.key`) };
  };
  const client = 'extendedKeyUsage=clientAuth\n';
  const apiserverNames = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost'];
  const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(f('sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(f('sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return {
    dir,
    caCert: f('ca.crt'),
    caKey: f('ca.key'),
    caPem: readFileSync(f('ca.crt'), 'utf8'),
    apiserver: issue('apiserver', { cn: 'kube-apiserver' },
      `subjectAltName=${[`IP:127.0.0.1`, `IP:${o.nodeIp}`, `IP:${o.serviceIp}`, ...apiserverNames.map((n) => `DNS:${n}`)].join(',')}\nextendedKeyUsage=serverAuth\n`),
    kubeletServing: issue('kubelet-serving', { cn: o.nodeName }, `subjectAltName=IP:${o.nodeIp},DNS:${o.nodeName}\nextendedKeyUsage=serverAuth\n`),
    apiserverKubeletClient: issue('apiserver-kubelet-client', IDENTITIES.apiserverKubeletClient, client),
    kubelet: issue('kubelet', IDENTITIES.kubelet(o.nodeName), client),
    controllerManager: issue('controller-manager', IDENTITIES.controllerManager, client),
    scheduler: issue('scheduler', IDENTITIES.scheduler, client),
    kubeProxy: issue('kube-proxy', IDENTITIES.kubeProxy, client),
    saPublicKey: f('sa.pub'),
    saPrivateKey: f('sa.key'),
  };
}

/** A kubeconfig for one component, by client certificate (or bearer token for the admin). */
export function writeKubeconfig(path: string, o: { server: string; caCert: string; user: string; cert?: ClientCert; token?: string }): string {
  const user: Record<string, string> = o.cert ? { 'client-certificate': o.cert.cert, 'client-key': o.cert.key } : { token: o.token ?? '' };
  writeFileSync(path, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': o.user,
    clusters: [{ name: 'podcount-test-cluster', cluster: { server: o.server, 'certificate-authority': o.caCert } }],
    users: [{ name: o.user, user }],
    contexts: [{ name: o.user, context: { cluster: 'podcount-test-cluster', user: o.user, namespace: 'default' } }],
  }, null, 2), { mode: 0o600 });
  return path;
}
