// One real Kubernetes control plane (etcd + kube-apiserver) on loopback for a test file, `npm run
// dev` or a benchmark: start() builds or finds the binaries, generates keys, starts both and
// waits for /readyz; stop() kills both and removes every file it made.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ensureControlPlaneBinaries } from '../controlplane/binaries.ts';
import { AdminClient, type AdminRequest, type AdminResponse } from './admin-client.ts';
import { APIServer } from './apiserver.ts';
import { generateCerts } from './certs.ts';
import { Etcd } from './etcd.ts';
import { freePort } from './ports.ts';

const running = new Set<ControlPlane>();

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
  readonly admin: AdminClient;
  #stopped = false;

  private constructor(dir: string, binaries: ControlPlane['binaries'], etcd: Etcd, apiServer: APIServer, caPem: string, caFile: string) {
    this.dir = dir;
    this.binaries = binaries;
    this.etcd = etcd;
    this.apiServer = apiServer;
    this.url = apiServer.url;
    this.port = apiServer.port;
    this.caPem = caPem;
    this.caFile = caFile;
    this.admin = new AdminClient(this.url, caPem, apiServer.adminToken);
    this.kubeconfigPath = join(dir, 'admin.kubeconfig');
    writeFileSync(this.kubeconfigPath, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'admin',
      clusters: [{ name: 'podcount-test', cluster: { server: this.url, 'certificate-authority': caFile } }],
      users: [{ name: 'admin', user: { token: apiServer.adminToken } }],
      contexts: [{ name: 'admin', context: { cluster: 'podcount-test', user: 'admin', namespace: 'default' } }],
    }, null, 2), { mode: 0o600 });
  }

  static async start(): Promise<ControlPlane> {
    const bin = await ensureControlPlaneBinaries();
    const dir = mkdtempSync(join(tmpdir(), 'podcount-cp-'));
    try {
      const certs = generateCerts(dir);
      const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
      const etcd = new Etcd(bin.etcd, dir, etcdClient, etcdPeer);
      const apiServer = new APIServer(bin.kubeApiserver, dir, apiPort, etcd.clientUrl, certs, randomBytes(24).toString('hex'));
      const cp = new ControlPlane(dir, { etcd: bin.etcd, kubeApiserver: bin.kubeApiserver, kubectl: bin.kubectl }, etcd, apiServer, certs.caPem, certs.caCert);
      running.add(cp);
      try {
        await etcd.start();
        await apiServer.start(cp.admin);
      } catch (err) {
        await cp.stop();
        throw err;
      }
      return cp;
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** A client-node KubeConfig for the admin (what the seeds' programs would use). */
  adminKubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  adminFetch(path: string, init: AdminRequest = {}): Promise<AdminResponse> {
    return this.admin.request(path, init);
  }

  /** PIDs of the running harness processes (for the no-leftover test). */
  get pids(): number[] {
    return [this.etcd.process.pid, this.apiServer.process.pid].filter((p): p is number => p !== undefined);
  }

  stopApiServer(): Promise<void> {
    return this.apiServer.stop();
  }

  startApiServer(): Promise<void> {
    return this.apiServer.start(this.admin);
  }

  stopEtcd(): Promise<void> {
    return this.etcd.stop();
  }

  startEtcd(): Promise<void> {
    return this.etcd.start();
  }

  /**
   * How many requests the API server itself counted (apiserver_request_total), summed over
   * codes and scopes: a real signal, independent of what any client says it sent.
   */
  async apiRequestCount(filter: { verb: string; resource: string }): Promise<number> {
    const res = await this.admin.must('/metrics', { headers: { accept: 'text/plain' } });
    let total = 0;
    for (const line of res.text.split('\n')) {
      if (!line.startsWith('apiserver_request_total{')) continue;
      if (!line.includes(`verb="${filter.verb}"`) || !line.includes(`resource="${filter.resource}"`)) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    running.delete(this);
    this.admin.close();
    await this.apiServer.stop();
    await this.etcd.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Stops every running control plane; for signal handlers. */
export async function stopAllControlPlanes(): Promise<void> {
  await Promise.all([...running].map((cp) => cp.stop()));
}
