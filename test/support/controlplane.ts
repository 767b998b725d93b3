// One real Kubernetes control plane (etcd + kube-apiserver) on loopback for a test file, `npm run
// dev` or a benchmark: start() finds the binaries, generates keys, starts both and waits for
// /readyz; stop() kills both and removes every file it made. If the process dies first,
// cleanup.ts and the kernel (process.ts) still take the servers down.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { controlPlaneBinaries } from '../controlplane/binaries.ts';
import { AdminClient, type AdminRequest, type AdminResponse } from './admin-client.ts';
import { APIServer } from './apiserver.ts';
import { generateCerts } from './certs.ts';
import { trackDir } from './cleanup.ts';
import { START_ATTEMPTS } from './defaults.ts';
import { Etcd } from './etcd.ts';
import { freePort } from './ports.ts';

export interface ControlPlaneOptions {
  /** Have kube-apiserver write an audit log (read it with auditEvents()). */
  auditPolicy?: boolean;
}

/** One line of the audit log (audit.k8s.io/v1 Event, Metadata level); the fields tests use. */
export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  userAgent?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code: number };
  [k: string]: unknown;
}

export class ControlPlane {
  readonly dir: string;
  readonly url: string;
  readonly host = '127.0.0.1';
  readonly port: number;
  readonly caPem: string;
  readonly caFile: string;
  readonly kubeconfigPath: string;
  readonly binaries: { etcd: string; kubeApiserver: string; kubectl: string };
  readonly etcd: Etcd;
  readonly apiServer: APIServer;
  /** The admin's keep-alive HTTP client (system:masters). */
  readonly adminClient: AdminClient;
  /** Wall time start() took, binaries lookup included. */
  startSeconds = 0;
  readonly #untrackDir: () => void;
  #stopped = false;

  private constructor(dir: string, binaries: ControlPlane['binaries'], opts: ControlPlaneOptions, ports: { etcdClient: number; etcdPeer: number; api: number }) {
    this.dir = dir;
    this.#untrackDir = trackDir(dir);
    this.binaries = binaries;
    const certs = generateCerts(dir);
    const adminToken = randomBytes(24).toString('hex');
    this.etcd = new Etcd(binaries.etcd, dir, ports.etcdClient, ports.etcdPeer);
    this.apiServer = new APIServer({ binary: binaries.kubeApiserver, dir, port: ports.api, etcdUrl: this.etcd.clientUrl, certs, adminToken, audit: opts.auditPolicy ?? false });
    this.url = this.apiServer.url;
    this.port = this.apiServer.port;
    this.caPem = certs.caPem;
    this.caFile = certs.caCert;
    this.adminClient = new AdminClient(this.url, this.caPem, adminToken);
    this.kubeconfigPath = join(dir, 'admin.kubeconfig');
    writeFileSync(this.kubeconfigPath, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'admin',
      clusters: [{ name: 'podcount-test', cluster: { server: this.url, 'certificate-authority': this.caFile } }],
      users: [{ name: 'admin', user: { token: adminToken } }],
      contexts: [{ name: 'admin', context: { cluster: 'podcount-test', user: 'admin', namespace: 'default' } }],
    }, null, 2), { mode: 0o600 });
  }

  static async start(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const started = performance.now();
    const bin = await controlPlaneBinaries();
    const binaries = { etcd: bin.etcd, kubeApiserver: bin.kubeApiserver, kubectl: bin.kubectl };
    for (let attempt = 1; ; attempt++) {
      const ports = { etcdClient: await freePort(), etcdPeer: await freePort(), api: await freePort() };
      const dir = mkdtempSync(join(tmpdir(), 'podcount-cp-'));
      let cp: ControlPlane | undefined;
      try {
        cp = new ControlPlane(dir, binaries, opts, ports);
        await cp.etcd.start();
        await cp.apiServer.start(cp.adminClient);
        cp.startSeconds = (performance.now() - started) / 1000;
        return cp;
      } catch (err) {
        if (cp) await cp.stop();
        else rmSync(dir, { recursive: true, force: true });
        // Ports are picked free, but another process can bind one before our server does.
        if (attempt < START_ATTEMPTS && /address already in use/.test(String(err))) continue;
        throw err;
      }
    }
  }

  /** A client-node KubeConfig for the admin, loaded from kubeconfigPath. */
  admin(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  /** A raw request as the admin. Never throws on HTTP errors: look at status. */
  adminFetch(path: string, init: AdminRequest = {}): Promise<AdminResponse> {
    return this.adminClient.request(path, init);
  }

  /** PIDs of the running server processes (for the no-leftover test). */
  get pids(): number[] {
    return [this.etcd.process.pid, this.apiServer.process.pid].filter((p): p is number => p !== undefined);
  }

  /** Same port, same etcd, same keys afterwards: tokens minted before stay valid. */
  stopApiServer(): Promise<void> {
    return this.apiServer.stop();
  }

  startApiServer(): Promise<void> {
    return this.apiServer.start(this.adminClient);
  }

  /** Same data folder and ports afterwards. kube-apiserver keeps running and answers 5xx/timeouts meanwhile. */
  stopEtcd(): Promise<void> {
    return this.etcd.stop();
  }

  startEtcd(): Promise<void> {
    return this.etcd.start();
  }

  /**
   * How many requests kube-apiserver itself counted (apiserver_request_total, summed over codes,
   * scopes and components): a real signal, independent of what any client says it sent. The
   * counter starts at zero with each kube-apiserver process (stopApiServer resets it).
   */
  async apiRequestCount(filter: { verb: string; resource: string }): Promise<number> {
    const res = await this.adminClient.must('/metrics', { headers: { accept: 'text/plain' } });
    const verb = filter.verb.toUpperCase();
    let total = 0;
    for (const line of res.text.split('\n')) {
      const m = /^apiserver_request_total\{(.*)\} (\S+)$/.exec(line);
      if (!m) continue;
      const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
      if (labels['verb'] === verb && labels['resource'] === filter.resource && !labels['subresource']) total += Number(m[2]);
    }
    return total;
  }

  /** The audit log so far; start({ auditPolicy: true }) to have one. */
  auditEvents(): AuditEvent[] {
    const log = this.apiServer.auditLog;
    if (!log) throw new Error('this control plane was started without { auditPolicy: true }');
    let text: string;
    try {
      text = readFileSync(log, 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as AuditEvent);
  }

  /** Waits for audit events matching `match` (they are written as requests complete). */
  async waitForAuditEvents(match: (e: AuditEvent) => boolean, opts: { atLeast?: number; timeoutMs?: number } = {}): Promise<AuditEvent[]> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    for (;;) {
      const found = this.auditEvents().filter(match);
      if (found.length >= (opts.atLeast ?? 1)) return found;
      if (Date.now() > deadline) throw new Error(`expected ${opts.atLeast ?? 1} matching audit events, found ${found.length}`);
      await sleep(50);
    }
  }

  /** Kills both servers, waits for them to exit and removes the temp folder; idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.adminClient.close();
    // API server first, so it never sees its etcd vanish while shutting down.
    await this.apiServer.stop();
    await this.etcd.stop();
    rmSync(this.dir, { recursive: true, force: true });
    this.#untrackDir();
  }
}
