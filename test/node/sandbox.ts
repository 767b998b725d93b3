// The node's own Linux namespaces, so the test cluster behaves as a real node without touching the
// machine: a network namespace (its own IP forwarding, iptables rules, bridge and routes, joined to
// the host by one veth pair), a mount namespace (kubelet-made mounts, the sysctl files the kubelet
// insists on writing, /run, /var/lib and /var/log all private), and a PID namespace whose init is
// tied to this Node process. When the init dies, for whatever reason, the kernel kills every
// process of the node (containerd shims and containers included) and the namespaces, their mounts,
// bridge, veth and rules vanish with them. real-node.md (shared notes) explains why the host's
// own network cannot serve.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { trackProcessGroup } from '../support/cleanup.ts';
import { waitFor } from '../support/poll.ts';

const run = promisify(execFile);

/**
 * Global (not per-namespace) sysctls the kubelet writes at start and dies if it cannot. Inside the
 * sandbox each is shadowed by a file holding the machine's current value: the kubelet's write
 * lands in that file, the machine's value never changes.
 */
const KUBELET_SYSCTLS = ['vm/overcommit_memory', 'vm/panic_on_oom', 'kernel/panic', 'kernel/panic_on_oops', 'kernel/keys/root_maxkeys', 'kernel/keys/root_maxbytes'];

// Runs as PID 1 of the sandbox (bash reaps the orphans a PID 1 inherits: exited shims).
const INIT = `set -euo pipefail
dir=$1
# Shared inside the sandbox only: the kubelet's volume mounts must reach containers.
mount --make-rshared /
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p "$dir/var-lib" "$dir/var-log" "$dir/sysctl"
mount --bind "$dir/var-lib" /var/lib
mount --bind "$dir/var-log" /var/log
for s in ${KUBELET_SYSCTLS.join(' ')}; do
  f="$dir/sysctl/\${s//\\//.}"
  cat "/proc/sys/$s" > "$f"
  mount --bind "$f" "/proc/sys/$s"
done
ip link set lo up
touch "$dir/sandbox-ready"
trap 'exit 0' TERM
while :; do sleep 3600 & wait $! || true; done
`;

export interface SandboxAddresses {
  /** The host's end of the veth: the node's default gateway. */
  hostIp: string;
  /** The node's address (eth0 inside), where the host reaches kube-apiserver. */
  nodeIp: string;
}

export class NodeSandbox {
  readonly dir: string;
  readonly hostLink: string;
  readonly addresses: SandboxAddresses;
  #holder: ChildProcess | undefined;
  #initPid = 0;
  #untrack: (() => void) | undefined;

  constructor(dir: string, id: string, addresses: SandboxAddresses) {
    this.dir = dir;
    this.hostLink = `pc${id}`.slice(0, 15);
    this.addresses = addresses;
  }

  /** A free /30 in 10.250.0.0/16 for the veth pair (the host has no other use for it). */
  static async pickAddresses(): Promise<SandboxAddresses> {
    const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show']);
    for (let i = 0; i < 64; i++) {
      const third = Math.floor(Math.random() * 256);
      const fourth = Math.floor(Math.random() * 64) * 4;
      const net = `10.250.${third}.`;
      if (!stdout.includes(` ${net}${fourth + 1}/`) && !stdout.includes(` ${net}${fourth + 2}/`)) {
        return { hostIp: `${net}${fourth + 1}`, nodeIp: `${net}${fourth + 2}` };
      }
    }
    throw new Error('test cluster: no free /30 in 10.250.0.0/16 for the node');
  }

  get initPid(): number {
    return this.#initPid;
  }

  async start(log: string): Promise<void> {
    const out = openSync(log, 'a');
    // setpriv: SIGKILL to unshare if this Node process dies; --kill-child: SIGKILL to the
    // sandbox's init when unshare dies; the kernel then kills everything inside.
    const holder = spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--pid', '--fork', '--kill-child=SIGKILL', '--mount-proc', '--propagation', 'private', '--net',
      '--', 'bash', '-c', INIT, 'podcount-node-init', this.dir], { stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    this.#holder = holder;
    if (holder.pid === undefined) throw new Error('test cluster: cannot start unshare (util-linux)');
    this.#untrack = trackProcessGroup(holder.pid);
    await waitFor(() => existsSync(join(this.dir, 'sandbox-ready')) || holder.exitCode !== null, { timeoutMs: 10_000, what: 'the node sandbox' });
    if (holder.exitCode !== null) throw new Error(`test cluster: the node sandbox failed to start:\n${readFileSync(log, 'utf8')}`);
    this.#initPid = Number(readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    const { hostIp, nodeIp } = this.addresses;
    await run('ip', ['link', 'add', this.hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(this.#initPid)]);
    await run('ip', ['addr', 'add', `${hostIp}/30`, 'dev', this.hostLink]);
    await run('ip', ['link', 'set', this.hostLink, 'up']);
    await this.exec('ip', ['addr', 'add', `${nodeIp}/30`, 'dev', 'eth0']);
    await this.exec('ip', ['link', 'set', 'eth0', 'up']);
    // The kubelet and kube-proxy pick the node's address from the default route.
    await this.exec('ip', ['route', 'add', 'default', 'via', hostIp]);
  }

  /** argv that runs `binary` inside the sandbox (all three namespaces). */
  wrap(binary: string, args: string[], env: Record<string, string> = {}): [string, string[]] {
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    return ['/usr/bin/nsenter', ['--target', String(this.#initPid), '--pid', '--net', '--mount', '--', '/usr/bin/env', ...envArgs, binary, ...args]];
  }

  /** One command inside the sandbox; its stdout. */
  async exec(binary: string, args: string[]): Promise<string> {
    const [cmd, argv] = this.wrap(binary, args);
    const { stdout } = await run(cmd, argv, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  }

  /** Kills the sandbox's init (and so every process inside) and waits until it is gone. */
  async destroy(): Promise<void> {
    const holder = this.#holder;
    if (holder?.pid !== undefined && holder.exitCode === null && holder.signalCode === null) {
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      try {
        process.kill(-holder.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      await exited;
    }
    // The kernel removes the pair with the namespace; this covers an init that never ran.
    await run('ip', ['link', 'del', this.hostLink]).catch(() => undefined);
    if (this.#initPid) await waitFor(() => !existsSync(`/proc/${this.#initPid}`), { timeoutMs: 10_000, what: 'the node sandbox to exit' }).catch(() => undefined);
    this.#untrack?.();
  }
}
