// kube-apiserver, etcd and kubectl for the tests, built once from the Go module pinned beside this
// file into a cache folder outside the repo, keyed by the pins (go.mod + go.sum): rebuilt only
// when they change. KUBEBUILDER_ASSETS (the envtest convention) short-cuts the build.
// CLI: `node test/controlplane/binaries.ts` builds (or finds) them and prints where.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const MODULE_DIR = import.meta.dirname;
const NAMES = ['etcd', 'kube-apiserver', 'kubectl'] as const;

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
  dir: string;
  /** Seconds the build took in this call; null when the cache or KUBEBUILDER_ASSETS served. */
  builtSeconds: number | null;
}

export class MissingToolchainError extends Error {}

export function cacheRoot(): string {
  return join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'podcount');
}

function fromDir(dir: string, builtSeconds: number | null): Binaries {
  // kubectl may be missing from a KUBEBUILDER_ASSETS folder (envtest ships only the two servers).
  const kubectl = existsSync(join(dir, 'kubectl')) ? join(dir, 'kubectl') : 'kubectl';
  return { etcd: join(dir, 'etcd'), kubeApiserver: join(dir, 'kube-apiserver'), kubectl, dir, builtSeconds };
}

export async function ensureControlPlaneBinaries(log: (line: string) => void = (l) => console.error(l)): Promise<Binaries> {
  const assets = process.env['KUBEBUILDER_ASSETS'];
  if (assets) {
    if (!existsSync(join(assets, 'etcd')) || !existsSync(join(assets, 'kube-apiserver'))) {
      throw new MissingToolchainError(`KUBEBUILDER_ASSETS=${assets} must hold etcd and kube-apiserver`);
    }
    return fromDir(assets, null);
  }
  const pins = createHash('sha256').update(readFileSync(join(MODULE_DIR, 'go.mod'))).update(readFileSync(join(MODULE_DIR, 'go.sum'))).digest('hex').slice(0, 16);
  const dir = join(cacheRoot(), 'controlplane', pins);
  if (NAMES.every((n) => existsSync(join(dir, n)))) return fromDir(dir, null);

  const go = goVersion();
  log(`control plane: building kube-apiserver, etcd and kubectl from test/controlplane/go.mod with ${go} (first run only, several minutes)...`);
  const started = Date.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await run('go', ['build', '-trimpath', '-ldflags=-s -w', '-o', tmp + '/', 'go.etcd.io/etcd/server/v3', 'k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kubectl']);
    // The etcd module's main package is named after its folder ("server").
    renameSync(join(tmp, 'server'), join(tmp, 'etcd'));
    // Atomic publish: a killed build never leaves a half-filled cache folder behind.
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`control plane: built kube-apiserver, etcd, kubectl in ${seconds} s (${go}) -> ${dir}`);
  return fromDir(dir, seconds);
}

function goVersion(): string {
  try {
    return execFileSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' }).trim();
  } catch {
    throw new MissingToolchainError('podcount tests need Go >= 1.25 to build kube-apiserver and etcd (install it from https://go.dev/dl or your package manager), or KUBEBUILDER_ASSETS set to a folder holding etcd and kube-apiserver');
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: MODULE_DIR, stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, GOFLAGS: '-mod=mod' } });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${stderr.slice(-4000)}`))));
  });
}

if (import.meta.main) {
  try {
    const b = await ensureControlPlaneBinaries();
    console.log(`control plane binaries: ${b.dir}${b.builtSeconds === null ? ' (cached)' : ` (built in ${b.builtSeconds} s)`}`);
  } catch (err) {
    console.error(err instanceof MissingToolchainError ? err.message : err);
    process.exit(1);
  }
}
