// etcd for one control plane: loopback ports, a data folder in the run's temp folder, no fsync
// (tests do not need durability across power loss). Restartable on the same data for fault tests.
import { join } from 'node:path';
import { ServerProcess } from './process.ts';

export class Etcd {
  readonly clientUrl: string;
  readonly #peerUrl: string;
  readonly #binary: string;
  readonly #dataDir: string;
  readonly process: ServerProcess;

  constructor(binary: string, dir: string, clientPort: number, peerPort: number) {
    this.#binary = binary;
    this.#dataDir = join(dir, 'etcd-data');
    this.clientUrl = `http://127.0.0.1:${clientPort}`;
    this.#peerUrl = `http://127.0.0.1:${peerPort}`;
    this.process = new ServerProcess('etcd', join(dir, 'etcd.log'));
  }

  start(): Promise<void> {
    return this.process.start(this.#binary, [
      `--data-dir=${this.#dataDir}`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      `--listen-peer-urls=${this.#peerUrl}`,
      `--initial-advertise-peer-urls=${this.#peerUrl}`,
      `--initial-cluster=default=${this.#peerUrl}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ], async () => (await fetch(`${this.clientUrl}/health`)).ok);
  }

  stop(): Promise<void> {
    return this.process.stop();
  }
}
