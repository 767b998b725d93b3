// What the test cluster could leave behind on the machine: mounts, network links, routes,
// firewall rules, the sysctls the kubelet, CNI and kube-proxy write, and cgroups (two snapshots
// taken around a cluster's life must be equal), and processes in its namespaces.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Global sysctls the kubelet writes, and the per-network ones CNI and kube-proxy write in their own namespace. */
export const WATCHED_SYSCTLS = [
  'vm/overcommit_memory', 'vm/panic_on_oom', 'kernel/panic', 'kernel/panic_on_oops', 'kernel/keys/root_maxkeys', 'kernel/keys/root_maxbytes',
  'net/ipv4/ip_forward', 'net/ipv4/conf/all/route_localnet', 'net/bridge/bridge-nf-call-iptables',
  'net/netfilter/nf_conntrack_max', 'net/netfilter/nf_conntrack_tcp_timeout_established', 'net/netfilter/nf_conntrack_tcp_be_liberal',
];

export interface HostState {
  mounts: string[];
  links: string[];
  routes: string[];
  iptables: string;
  sysctls: Record<string, string>;
  cgroups: string[];
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return `(${cmd} unavailable)`;
  }
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '(absent)';
  }
}

/** The namespaces of a process, as the kernel names them (`net:[4026532…]`). */
export function namespacesOf(pid: number): string[] {
  return ['pid', 'net', 'mnt'].map((ns) => {
    try {
      return readlinkSync(`/proc/${pid}/ns/${ns}`);
    } catch {
      return `${ns}:(gone)`;
    }
  });
}

/** Processes still in any of those namespaces, or whose command line names `dir`. */
export function processesIn(namespaces: string[], dir: string): string[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid).flatMap((pid) => {
    const inside = namespacesOf(Number(pid)).some((ns) => namespaces.includes(ns));
    const cmdline = read(`/proc/${pid}/cmdline`).replaceAll('\0', ' ');
    return inside || cmdline.includes(dir) ? [`${pid} ${cmdline.slice(0, 160)}`] : [];
  });
}

/**
 * Another test cluster's veth (`pc` + 6 hex digits, sandbox.ts) or a route through it: a test file
 * or benchmark running beside this one on the same machine. This cluster's own link is checked by
 * name instead (`linkExists`).
 */
function otherCluster(line: string): boolean {
  return /(^|\s|dev )pc[0-9a-f]{6}(@|\s|$)/.test(line);
}

export function linkExists(name: string): boolean {
  return !run('ip', ['-o', 'link', 'show', 'dev', name]).startsWith('(');
}

export function hostState(): HostState {
  const cgroups = readdirSync('/sys/fs/cgroup').flatMap((h) => {
    try {
      return readdirSync(`/sys/fs/cgroup/${h}`).filter((d) => d.startsWith(`podcount-${process.pid}-`) || d === 'kubepods').map((d) => `${h}/${d}`);
    } catch {
      return [];
    }
  });
  return {
    mounts: read('/proc/self/mountinfo').split('\n').map((l) => l.split(' ').slice(3, 5).join(' ')).sort(),
    links: run('ip', ['-o', 'link', 'show']).split('\n').map((l) => l.split(':')[1]?.trim() ?? '').filter((l) => l && !otherCluster(l)).sort(),
    routes: run('ip', ['route', 'show', 'table', 'all']).split('\n').filter((l) => l && !otherCluster(l)).sort(),
    // Counters change with traffic; the rules are what matters.
    iptables: run('iptables-save', []).split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/, '')).join('\n'),
    sysctls: Object.fromEntries(WATCHED_SYSCTLS.map((s) => [s, read(`/proc/sys/${s}`)])),
    cgroups,
  };
}
