// kube-apiserver, etcd and kubectl for the tests, built once from the Go module pinned beside this
// file into a cache folder outside the repo, keyed by the pins (go.mod + go.sum) and the build
// recipe: rebuilt only when they change. KUBEBUILDER_ASSETS (the envtest convention) short-cuts
// the build. CLI: `node test/controlplane/binaries.ts` builds (or finds) them and prints where.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { buildIntoCache, cacheRoot, executable, findGo, goBuild, MissingToolchainError, onPath } from './go-cache.ts';

export const MODULE_DIR = import.meta.dirname;
const NAMES = ['etcd', 'kube-apiserver', 'kubectl'] as const;
const PACKAGES = ['go.etcd.io/etcd/server/v3', 'k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kubectl'];
// Static binaries as upstream releases them (no C toolchain needed); -mod=readonly so a build
// never rewrites the pins; GOWORK=off so a go.work above the repo cannot change them either.
const BUILD_FLAGS = ['-mod=readonly', '-trimpath', `-ldflags=-s -w ${versionStamp()}`];
const BUILD_ENV = { CGO_ENABLED: '0', GOWORK: 'off' };
/** The env var global-setup uses to hand the folder to test files (they run in child processes). */
export const BIN_DIR_ENV = 'PODCOUNT_CONTROLPLANE_BIN';

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
  dir: string;
  /** Seconds the build took in this call; null when the cache or KUBEBUILDER_ASSETS served. */
  builtSeconds: number | null;
}

/** The cache folder for the current pins and recipe. */
export function cacheDir(): string {
  const hash = createHash('sha256')
    .update(readFileSync(join(MODULE_DIR, 'go.mod')))
    .update(readFileSync(join(MODULE_DIR, 'go.sum')))
    .update(JSON.stringify([PACKAGES, BUILD_FLAGS, BUILD_ENV.CGO_ENABLED]));
  return join(cacheRoot(), 'controlplane', hash.digest('hex').slice(0, 16));
}

/**
 * The binaries: from KUBEBUILDER_ASSETS when set, else from the cache, else built into it.
 * Logs exactly one line saying which (and how long a build took).
 */
export async function ensureControlPlaneBinaries(log: (line: string) => void = (l) => console.error(l)): Promise<Binaries> {
  const assets = process.env['KUBEBUILDER_ASSETS'];
  if (assets) {
    const b = fromAssets(assets, log);
    log(`control plane: using KUBEBUILDER_ASSETS=${assets}`);
    return b;
  }
  const dir = cacheDir();
  if (complete(dir)) {
    log(`control plane: reusing cached kube-apiserver, etcd, kubectl in ${dir}`);
    return fromDir(dir, null);
  }
  const go = findGo('control plane: Go builds kube-apiserver, etcd and kubectl (or set KUBEBUILDER_ASSETS to a folder holding etcd and kube-apiserver)');
  const version = execFileSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' }).trim();
  log(`control plane: building kube-apiserver, etcd, kubectl from test/controlplane/go.mod with ${version} (first run only, several minutes)...`);
  const started = Date.now();
  await buildIntoCache(dir, complete, async (tmp) => {
    await goBuild(go, { cwd: MODULE_DIR, env: BUILD_ENV, what: 'control plane' }, ['build', ...BUILD_FLAGS, '-o', tmp + '/', ...PACKAGES]);
    // The etcd module's main package is named after its folder ("server").
    renameSync(join(tmp, 'server'), join(tmp, 'etcd'));
  });
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`control plane: built kube-apiserver, etcd, kubectl in ${seconds} s (${version}) -> ${dir}`);
  return fromDir(dir, seconds);
}

/**
 * For test files: the folder global-setup found or built (handed over in BIN_DIR_ENV), so no
 * test file hashes or logs again; without it (one file run by hand, npm run dev, benchmarks),
 * the full lookup, which is cheap once cached.
 */
export async function controlPlaneBinaries(): Promise<Binaries> {
  const dir = process.env[BIN_DIR_ENV];
  if (dir && existsSync(join(dir, 'etcd')) && existsSync(join(dir, 'kube-apiserver'))) {
    return dir === process.env['KUBEBUILDER_ASSETS'] ? fromAssets(dir, () => {}) : fromDir(dir, null);
  }
  return ensureControlPlaneBinaries();
}

/**
 * The version k8s's own build (hack/lib/version.sh) stamps in, taken from the pin: a plain
 * `go build` would report v0.0.0-master to `kubectl version` and the API server's /version.
 */
export function versionStamp(): string {
  const pin = /^\s*k8s\.io\/kubernetes (v(\d+)\.(\d+)\.\d+)(\s|$)/m.exec(readFileSync(join(MODULE_DIR, 'go.mod'), 'utf8'));
  if (!pin) throw new Error('test/controlplane/go.mod does not require k8s.io/kubernetes vX.Y.Z');
  const [, gitVersion, major, minor] = pin;
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']
    .flatMap((pkg) => [`-X ${pkg}.gitVersion=${gitVersion}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`, `-X ${pkg}.gitTreeState=clean`])
    .join(' ');
}

function complete(dir: string): boolean {
  return NAMES.every((n) => existsSync(join(dir, n)));
}

function fromDir(dir: string, builtSeconds: number | null): Binaries {
  return { etcd: join(dir, 'etcd'), kubeApiserver: join(dir, 'kube-apiserver'), kubectl: join(dir, 'kubectl'), dir, builtSeconds };
}

function fromAssets(dir: string, log: (line: string) => void): Binaries {
  for (const name of ['etcd', 'kube-apiserver']) {
    if (!executable(join(dir, name))) throw new MissingToolchainError(`control plane: KUBEBUILDER_ASSETS=${dir} has no executable ${name}`);
  }
  const b = fromDir(dir, null);
  if (!executable(b.kubectl)) {
    // envtest's archives ship kubectl, hand-made folders may not: then the cached build's, or the machine's.
    const cached = join(cacheDir(), 'kubectl');
    b.kubectl = executable(cached) ? cached : (onPath('kubectl') ?? 'kubectl');
    log(`control plane: no kubectl in KUBEBUILDER_ASSETS, using ${b.kubectl}`);
  }
  return b;
}

if (import.meta.main) {
  try {
    const b = await ensureControlPlaneBinaries((line) => console.log(line));
    console.log(`etcd=${b.etcd}\nkube-apiserver=${b.kubeApiserver}\nkubectl=${b.kubectl}`);
  } catch (err) {
    console.error(err instanceof MissingToolchainError ? err.message : err);
    process.exit(1);
  }
}
