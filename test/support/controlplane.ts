// One real Kubernetes control plane (etcd + kube-apiserver) on loopback for a test file, `npm run
// dev` or a benchmark, shaped like controller-runtime's envtest: the constructor takes options,
// start() finds the binaries, makes keys and files in a temp folder, starts both servers and waits
// for /readyz; stop() kills both and removes every file it made. If the process dies first,
// cleanup.ts and the kernel (process.ts) still take the servers down.
// The admin is `admin` (a bearer client in system:masters); `kubeconfigPath` is the same admin as
// a file, for kubectl, client-node and the function's kubeconfig path.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlPlaneBinaries } from '../controlplane/binaries.ts';
import { APIServer } from './apiserver.ts';
import { BearerClient } from './bearer-client.ts';
import { generateCerts } from './certs.ts';
import { trackDir } from './cleanup.ts';
import { START_ATTEMPTS } from './defaults.ts';
import { Etcd } from './etcd.ts';
import { freePort } from './ports.ts';

export interface ControlPlaneOptions {
  /** Have kube-apiserver write an audit log (read it with audit.ts). */
  auditPolicy?: boolean;
}

interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
}

/** What start() made. */
interface Started {
  dir: string;
  binaries: Binaries;
  caPem: string;
  caFile: string;
  kubeconfigPath: string;
  etcd: Etcd;
  apiServer: APIServer;
  admin: BearerClient;
  untrackDir: () => void;
}

export class ControlPlane {
  readonly options: ControlPlaneOptions;
  readonly host = '127.0.0.1';
  /** Wall time start() took, binaries lookup included. */
  startSeconds = 0;
  #started: Started | undefined;
  #stopped = false;

  constructor(options: ControlPlaneOptions = {}) {
    this.options = options;
  }

  /** A started control plane: what tests, `npm run dev` and benchmarks use. */
  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const cp = new ControlPlane(options);
    await cp.start();
    return cp;
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('this control plane was started before; make a new one');
    const began = performance.now();
    const { etcd, kubeApiserver, kubectl } = await controlPlaneBinaries();
    for (let attempt = 1; ; attempt++) {
      const s = await this.#prepare({ etcd, kubeApiserver, kubectl });
      this.#started = s;
      try {
        await s.etcd.start();
        await s.apiServer.start(s.admin);
        this.startSeconds = (performance.now() - began) / 1000;
        return;
      } catch (err) {
        await this.#tearDown(s);
        // Ports are picked free, but another process can bind one before our server does.
        if (attempt < START_ATTEMPTS && /address already in use/.test(String(err))) continue;
        this.#stopped = true;
        throw err;
      }
    }
  }

  /** Kills both servers, waits for them to exit and removes the temp folder; idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped || !this.#started) return;
    this.#stopped = true;
    await this.#tearDown(this.#started);
  }

  get dir(): string { return this.#get().dir; }
  get binaries(): Binaries { return this.#get().binaries; }
  get url(): string { return this.#get().apiServer.url; }
  get port(): number { return this.#get().apiServer.port; }
  get caPem(): string { return this.#get().caPem; }
  get caFile(): string { return this.#get().caFile; }
  get kubeconfigPath(): string { return this.#get().kubeconfigPath; }
  get etcd(): Etcd { return this.#get().etcd; }
  get apiServer(): APIServer { return this.#get().apiServer; }
  /** The admin's keep-alive client (system:masters). */
  get admin(): BearerClient { return this.#get().admin; }

  /** PIDs of the running server processes (for the no-leftover test). */
  get pids(): number[] {
    return [this.etcd.process.pid, this.apiServer.process.pid].filter((p): p is number => p !== undefined);
  }

  /** Same port, same etcd, same keys afterwards: tokens minted before stay valid. */
  stopApiServer(): Promise<void> {
    return this.apiServer.stop();
  }

  startApiServer(): Promise<void> {
    return this.apiServer.start(this.admin);
  }

  /** Same data folder and ports afterwards. kube-apiserver keeps running and answers 5xx/timeouts meanwhile. */
  stopEtcd(): Promise<void> {
    return this.etcd.stop();
  }

  startEtcd(): Promise<void> {
    return this.etcd.start();
  }

  /** A temp folder with keys and the admin kubeconfig, free ports, and the two servers set up (not running). */
  async #prepare(binaries: Binaries): Promise<Started> {
    const ports = { etcdClient: await freePort(), etcdPeer: await freePort(), api: await freePort() };
    const dir = mkdtempSync(join(tmpdir(), 'podcount-cp-'));
    const untrackDir = trackDir(dir);
    try {
      const certs = generateCerts(dir);
      const adminToken = randomBytes(24).toString('hex');
      const etcd = new Etcd(binaries.etcd, dir, ports.etcdClient, ports.etcdPeer);
      const apiServer = new APIServer({ binary: binaries.kubeApiserver, dir, port: ports.api, etcdUrl: etcd.clientUrl, certs, adminToken, audit: this.options.auditPolicy ?? false });
      const kubeconfigPath = join(dir, 'admin.kubeconfig');
      writeFileSync(kubeconfigPath, JSON.stringify({
        apiVersion: 'v1', kind: 'Config', 'current-context': 'admin',
        clusters: [{ name: 'podcount-test', cluster: { server: apiServer.url, 'certificate-authority': certs.caCert } }],
        users: [{ name: 'admin', user: { token: adminToken } }],
        contexts: [{ name: 'admin', context: { cluster: 'podcount-test', user: 'admin', namespace: 'default' } }],
      }, null, 2), { mode: 0o600 });
      const admin = new BearerClient(apiServer.url, certs.caPem, adminToken);
      return { dir, binaries, caPem: certs.caPem, caFile: certs.caCert, kubeconfigPath, etcd, apiServer, admin, untrackDir };
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      untrackDir();
      throw err;
    }
  }

  async #tearDown(s: Started): Promise<void> {
    s.admin.close();
    // API server first, so it never sees its etcd vanish while shutting down.
    await s.apiServer.stop();
    await s.etcd.stop();
    rmSync(s.dir, { recursive: true, force: true });
    s.untrackDir();
  }

  #get(): Started {
    if (!this.#started) throw new Error('the control plane is not started: await start() first');
    return this.#started;
  }
}
