// etcd for one control plane: loopback ports, a data folder in the run's temp folder, no fsync
// (tests do not need durability across power loss; envtest does the same). Restartable on the
// same data and ports for fault tests.
import { join } from 'node:path';
import { ETCD_START_TIMEOUT_MS, ETCD_STOP_GRACE_MS } from './defaults.ts';
import { ServerProcess } from './process.ts';

export class Etcd {
  readonly clientUrl: string;
  readonly dataDir: string;
  readonly process: ServerProcess;
  readonly #peerUrl: string;
  readonly #binary: string;

  constructor(binary: string, dir: string, clientPort: number, peerPort: number) {
    this.#binary = binary;
    this.dataDir = join(dir, 'etcd-data');
    this.clientUrl = `http://127.0.0.1:${clientPort}`;
    this.#peerUrl = `http://127.0.0.1:${peerPort}`;
    this.process = new ServerProcess('etcd', join(dir, 'etcd.log'));
  }

  start(): Promise<void> {
    return this.process.start(this.#binary, [
      '--name=default',
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      `--listen-peer-urls=${this.#peerUrl}`,
      `--initial-advertise-peer-urls=${this.#peerUrl}`,
      `--initial-cluster=default=${this.#peerUrl}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ], () => this.healthy(), ETCD_START_TIMEOUT_MS);
  }

  stop(): Promise<void> {
    return this.process.stop(ETCD_STOP_GRACE_MS);
  }

  async healthy(): Promise<boolean> {
    const res = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(2000) });
    return res.ok && ((await res.json()) as { health?: string }).health === 'true';
  }
}
