// kube-apiserver for one control plane, configured like controller-runtime's envtest: loopback
// only, RBAC, ServiceAccount token issuing with per-run keys, a static admin token. Without a
// controller-manager there is no default ServiceAccount, so the ServiceAccount admission plugin
// is off; tokens come from the TokenRequest API. Restartable on the same port and keys, so
// tokens minted before a restart stay valid. The constructor only takes the settings; start()
// writes the files the flags name and runs the server.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BearerClient } from './bearer-client.ts';
import type { CertFiles } from './certs.ts';
import { ADMIN_GROUP, ADMIN_USER, APISERVER_START_TIMEOUT_MS, SERVICE_ACCOUNT_ISSUER, SERVICE_CLUSTER_IP_RANGE } from './defaults.ts';
import { ServerProcess } from './process.ts';

export interface APIServerOptions {
  binary: string;
  dir: string;
  port: number;
  etcdUrl: string;
  certs: CertFiles;
  adminToken: string;
  /** Write an audit log (Metadata level, every request but the server's own and health probes). */
  audit: boolean;
}

// Metadata level: who asked what (verb, URI with query, user, user agent, status), no bodies.
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  users: ["system:apiserver"]
- level: None
  nonResourceURLs: ["/readyz*", "/healthz*", "/livez*", "/metrics"]
- level: Metadata
`;

export class APIServer {
  readonly port: number;
  readonly url: string;
  readonly process: ServerProcess;
  /** The audit log (JSON lines), when asked for. */
  readonly auditLog: string | undefined;
  readonly #o: APIServerOptions;

  constructor(o: APIServerOptions) {
    this.#o = o;
    this.port = o.port;
    this.url = `https://127.0.0.1:${o.port}`;
    this.process = new ServerProcess('kube-apiserver', join(o.dir, 'kube-apiserver.log'));
    this.auditLog = o.audit ? join(o.dir, 'audit.log') : undefined;
  }

  /** Ready when /readyz says so to the admin (all post-start hooks done, RBAC bootstrapped). */
  start(admin: BearerClient): Promise<void> {
    return this.process.start(this.#o.binary, this.#args(), async () => (await admin.request('/readyz', { timeoutMs: 2000 })).status === 200, APISERVER_START_TIMEOUT_MS);
  }

  stop(): Promise<void> {
    return this.process.stop();
  }

  /** The flags, after writing the files they name (the same content on every start). */
  #args(): string[] {
    const o = this.#o;
    const tokens = join(o.dir, 'tokens.csv');
    writeFileSync(tokens, `${o.adminToken},${ADMIN_USER},${ADMIN_USER}-uid,"${ADMIN_GROUP}"\n`, { mode: 0o600 });
    const args = [
      `--etcd-servers=${o.etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${o.port}`,
      `--tls-cert-file=${o.certs.servingCert}`,
      `--tls-private-key-file=${o.certs.servingKey}`,
      `--cert-dir=${join(o.dir, 'apiserver-certs')}`,
      '--authorization-mode=RBAC',
      `--token-auth-file=${tokens}`,
      `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${o.certs.saPublicKey}`,
      `--service-account-signing-key-file=${o.certs.saPrivateKey}`,
      // Honest expiry: no year-long extension of bound tokens (kube-apiserver's default, for kubelets).
      '--service-account-extend-token-expiration=false',
      // No controller-manager: nothing would create the default ServiceAccount this plugin insists on.
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
    ];
    if (this.auditLog) {
      const policy = join(o.dir, 'audit-policy.yaml');
      writeFileSync(policy, AUDIT_POLICY);
      // blocking: the event is written before the request completes, so tests rarely need to wait.
      args.push(`--audit-policy-file=${policy}`, `--audit-log-path=${this.auditLog}`, '--audit-log-format=json', '--audit-log-mode=blocking');
    }
    return args;
  }
}
