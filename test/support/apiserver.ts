// kube-apiserver for one control plane, configured like controller-runtime's envtest: loopback
// only, RBAC, ServiceAccount token issuing with per-run keys, a static admin token. Without a
// controller-manager there is no default ServiceAccount, so the ServiceAccount admission plugin
// is off; tokens come from the TokenRequest API. Restartable on the same port and keys, so
// tokens minted before a restart stay valid.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminClient } from './admin-client.ts';
import type { CertFiles } from './certs.ts';
import { ServerProcess } from './process.ts';

export class APIServer {
  readonly port: number;
  readonly url: string;
  readonly adminToken: string;
  readonly process: ServerProcess;
  readonly #binary: string;
  readonly #args: string[];

  constructor(binary: string, dir: string, port: number, etcdUrl: string, certs: CertFiles, adminToken: string) {
    this.#binary = binary;
    this.port = port;
    this.url = `https://127.0.0.1:${port}`;
    this.adminToken = adminToken;
    this.process = new ServerProcess('kube-apiserver', join(dir, 'kube-apiserver.log'));
    const tokens = join(dir, 'tokens.csv');
    writeFileSync(tokens, `${adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
    this.#args = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--tls-cert-file=${certs.servingCert}`,
      `--tls-private-key-file=${certs.servingKey}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      '--authorization-mode=RBAC',
      `--token-auth-file=${tokens}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${certs.saPublicKey}`,
      `--service-account-signing-key-file=${certs.saPrivateKey}`,
      // Honest expiry: no year-long extension of bound tokens (kube-apiserver's default for kubelets).
      '--service-account-extend-token-expiration=false',
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
    ];
  }

  /** Ready when /readyz says so to the admin (all post-start hooks done, RBAC bootstrapped). */
  start(admin: AdminClient): Promise<void> {
    return this.process.start(this.#binary, this.#args, async () => (await admin.request('/readyz')).status === 200, 120_000);
  }

  stop(): Promise<void> {
    return this.process.stop();
  }
}
