// The node's binaries, each built from a pinned Go module into the cache like the control plane's
// (test/controlplane/binaries.ts): a folder per recipe, keyed by its go.mod, go.sum and flags,
// published by one rename. kube-apiserver and etcd come from the control plane's build.
// - kubelet, kube-proxy, kube-scheduler, kube-controller-manager: test/controlplane's module (the
//   one Kubernetes pin), stamped with its version;
// - containerd, its runc shim and ctr: test/node/containerd (containerd 2.x; cgo as upstream builds it);
// - coredns: test/node/coredns (CoreDNS with the plugins a cluster Corefile uses);
// - Knative Serving's and Eventing's commands: test/knative's module (their images: test/images).
// runc and the CNI plugins are Debian packages that .ci/run installs.
// CLI: `node test/node/binaries.ts` builds (or finds) them and prints where.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MODULE_DIR as KUBERNETES_MODULE, versionStamp } from '../controlplane/binaries.ts';
import { buildIntoCache, cacheRoot, findGo, goBuild, MissingToolchainError } from '../controlplane/go-cache.ts';

const KNATIVE_MODULE = join(import.meta.dirname, '..', 'knative');
export const SERVING = ['controller', 'webhook', 'activator', 'autoscaler', 'queue'];
/** Every Eventing command its core, in-memory channel and MT broker YAML names, and event_display (a recorder for tests). */
export const EVENTING = ['controller', 'webhook', 'in_memory/channel_controller', 'in_memory/channel_dispatcher', 'mtchannel_broker', 'broker/ingress', 'broker/filter', 'mtping',
  'jobsink', 'requestreply', 'apiserver_receive_adapter', 'auth_proxy', 'event_display'];

interface Recipe {
  name: string;
  moduleDir: string;
  packages: string[];
  outputs: string[];
  flags: string[];
  env: Record<string, string>;
}

const RECIPES: Recipe[] = [
  {
    name: 'kubernetes-node',
    moduleDir: KUBERNETES_MODULE,
    packages: ['kubelet', 'kube-proxy', 'kube-scheduler', 'kube-controller-manager'].map((c) => `k8s.io/kubernetes/cmd/${c}`),
    outputs: ['kubelet', 'kube-proxy', 'kube-scheduler', 'kube-controller-manager'],
    flags: ['-mod=readonly', '-trimpath', `-ldflags=-s -w ${versionStamp()}`],
    env: { CGO_ENABLED: '0', GOWORK: 'off' },
  },
  {
    name: 'containerd',
    moduleDir: join(import.meta.dirname, 'containerd'),
    packages: ['containerd', 'containerd-shim-runc-v2', 'ctr'].map((c) => `github.com/containerd/containerd/v2/cmd/${c}`),
    outputs: ['containerd', 'containerd-shim-runc-v2', 'ctr'],
    flags: ['-mod=readonly', '-trimpath', '-ldflags=-s -w -X github.com/containerd/containerd/v2/version.Version=v2.4.2'],
    env: { GOWORK: 'off' },
  },
  // Knative Serving and Eventing, at the version test/knative pins for the webhook validation.
  {
    name: 'knative-serving',
    moduleDir: KNATIVE_MODULE,
    packages: SERVING.map((c) => `knative.dev/serving/cmd/${c}`),
    outputs: SERVING,
    flags: ['-mod=readonly', '-trimpath', '-ldflags=-s -w'],
    env: { CGO_ENABLED: '0', GOWORK: 'off' },
  },
  {
    name: 'knative-eventing',
    moduleDir: KNATIVE_MODULE,
    packages: EVENTING.map((c) => `knative.dev/eventing/cmd/${c}`),
    outputs: EVENTING.map((c) => c.split('/').at(-1)!),
    flags: ['-mod=readonly', '-trimpath', '-ldflags=-s -w'],
    env: { CGO_ENABLED: '0', GOWORK: 'off' },
  },
  {
    name: 'coredns',
    moduleDir: join(import.meta.dirname, 'coredns'),
    packages: ['.'],
    outputs: ['coredns'],
    flags: ['-mod=readonly', '-trimpath', '-ldflags=-s -w'],
    env: { CGO_ENABLED: '0', GOWORK: 'off' },
  },
];

export interface NodeBinaries {
  kubelet: string;
  kubeProxy: string;
  kubeScheduler: string;
  kubeControllerManager: string;
  containerd: string;
  containerdShim: string;
  ctr: string;
  coredns: string;
  /** The folders of Knative's commands (each binary named after its package's last element). */
  knative: { serving: string; eventing: string };
  /** Folders holding them (the shim must be on containerd's PATH). */
  dirs: string[];
}

function recipeDir(r: Recipe): string {
  const hash = createHash('sha256')
    .update(readFileSync(join(r.moduleDir, 'go.mod')))
    .update(readFileSync(join(r.moduleDir, 'go.sum')))
    .update(JSON.stringify([r.packages, r.flags, r.env['CGO_ENABLED'] ?? '']));
  return join(cacheRoot(), r.name, hash.digest('hex').slice(0, 16));
}

function complete(r: Recipe): (dir: string) => boolean {
  return (dir) => r.outputs.every((o) => existsSync(join(dir, o)));
}

/** Builds whatever is not cached yet; logs one line per recipe. */
export async function ensureNodeBinaries(log: (line: string) => void = (l) => console.error(l)): Promise<NodeBinaries> {
  const dirs: Record<string, string> = {};
  for (const r of RECIPES) {
    const dir = recipeDir(r);
    dirs[r.name] = dir;
    if (complete(r)(dir)) continue;
    const go = findGo(`test cluster: Go builds ${r.outputs.join(', ')}`);
    const version = execFileSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' }).trim();
    log(`test cluster: building ${r.outputs.join(', ')} from ${r.moduleDir.replace(/.*\/test\//, 'test/')}/go.mod with ${version} (first run only, several minutes)...`);
    const started = Date.now();
    await buildIntoCache(dir, complete(r), async (tmp) => {
      // `-o dir/` names each binary after its package (the module's last element for '.').
      await goBuild(go, { cwd: r.moduleDir, env: r.env, what: 'test cluster' }, ['build', ...r.flags, '-o', `${tmp}/`, ...r.packages]);
    });
    log(`test cluster: built ${r.outputs.join(', ')} in ${Math.round((Date.now() - started) / 1000)} s -> ${dir}`);
  }
  const k = dirs['kubernetes-node']!;
  const c = dirs['containerd']!;
  return {
    kubelet: join(k, 'kubelet'),
    kubeProxy: join(k, 'kube-proxy'),
    kubeScheduler: join(k, 'kube-scheduler'),
    kubeControllerManager: join(k, 'kube-controller-manager'),
    containerd: join(c, 'containerd'),
    containerdShim: join(c, 'containerd-shim-runc-v2'),
    ctr: join(c, 'ctr'),
    coredns: join(dirs['coredns']!, 'coredns'),
    knative: { serving: dirs['knative-serving']!, eventing: dirs['knative-eventing']! },
    dirs: [k, c],
  };
}

if (import.meta.main) {
  try {
    const b = await ensureNodeBinaries((line) => console.log(line));
    console.log(JSON.stringify(b, null, 2));
  } catch (err) {
    console.error(err instanceof MissingToolchainError ? err.message : err);
    process.exit(1);
  }
}
