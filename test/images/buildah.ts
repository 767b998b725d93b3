// buildah, run against a private image store under ~/.cache/podcount/images: never the machine's
// /var/lib/containers. vfs (a layer is a plain folder: no mounts, and `buildah mount` is just a
// path), chroot isolation for RUN (no runc, no cgroups), never a registry. Every call runs in a
// private mount namespace where /var/lib is an overlay on a throwaway tmpfs, because
// containers/image writes its blob-info cache to /var/lib/containers/cache whatever the store,
// and in a pid namespace of its own, so that killing it kills what its RUN steps started.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SETPRIV } from '../support/process.ts';
import { alive, type BuiltImage } from './cache.ts';

let containers = 0;
const tmpCleanup = new Set<string>();

/** Lines of a failed command's stderr quoted in its error. */
const TAIL_LINES = 25;
// Image builds share 2 cores with the developer's other work: keep them polite.
const NICE = ['nice', '-n', '10'];

export class CommandError extends Error {
  readonly command: string;
  readonly code: number | null;
  readonly stderrTail: string;

  constructor(command: string, code: number | null, stderrTail: string) {
    super(`${command} failed (${code === null ? 'killed' : `exit ${code}`})${stderrTail ? `:\n${stderrTail}` : ''}`);
    this.command = command;
    this.code = code;
    this.stderrTail = stderrTail;
  }
}

export interface RunOptions {
  /** Also append stdout and stderr to this file (long builds). */
  logFile?: string;
  env?: Record<string, string>;
  /** Wrap in private mount and pid namespaces (its mounts and processes end with it). */
  privateMounts?: boolean;
  /** How errors name the command (default: its first words). */
  label?: string;
}

/**
 * Runs a command niced, with pdeathsig; resolves to its stdout; rejects with the tail of its
 * stderr (or of the log file).
 */
export async function run(argv: string[], opts: RunOptions = {}): Promise<string> {
  let full = [...NICE, ...argv];
  // A pid namespace too, whose init dies with unshare: a killed build (npm ci in a RUN step is
  // not buildah's child once buildah dies) cannot leave processes behind.
  if (opts.privateMounts) full = ['unshare', '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child=SIGKILL', '--', ...full];
  if (SETPRIV) full = [SETPRIV, '--pdeathsig', 'KILL', '--', ...full];
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  const log = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (b: Buffer) => {
    out.push(b);
    log?.write(b);
  });
  child.stderr.on('data', (b: Buffer) => {
    err = (err + b.toString()).slice(-64 * 1024);
    log?.write(b);
  });
  const [code, spawnError] = await new Promise<[number | null, Error | undefined]>((resolve) => {
    child.once('error', (e) => resolve([null, e]));
    child.once('close', (c) => resolve([c, undefined]));
  });
  if (log) await new Promise((resolve) => log.end(resolve));
  const shown = opts.label ?? argv.slice(0, 3).join(' ');
  if (spawnError) throw new CommandError(shown, null, spawnError.message);
  if (code !== 0) {
    const text = err.trim() || (opts.logFile && existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8') : Buffer.concat(out).toString());
    throw new CommandError(shown, code, text.trimEnd().split('\n').slice(-TAIL_LINES).join('\n'));
  }
  return Buffer.concat(out).toString();
}

/** The private store: `dir`/storage (images, layers) and `dir`/run (its locks); big temp files in `dir`/tmp/<pid>. */
export class Buildah {
  readonly dir: string;
  readonly root: string;
  readonly runroot: string;
  readonly tmp: string;

  constructor(dir: string) {
    this.dir = dir;
    this.root = join(dir, 'storage');
    this.runroot = join(dir, 'run');
    // Per process: what a killed process left there is found by its pid and removed.
    const tmps = join(dir, 'tmp');
    this.tmp = join(tmps, String(process.pid));
    for (const d of [this.root, this.runroot, this.tmp]) mkdirSync(d, { recursive: true, mode: 0o700 });
    for (const pid of readdirSync(tmps)) if (!alive(Number(pid))) rmSync(join(tmps, pid), { recursive: true, force: true });
    if (!tmpCleanup.has(this.tmp)) {
      tmpCleanup.add(this.tmp);
      process.once('exit', () => rmSync(this.tmp, { recursive: true, force: true }));
    }
  }

  /** `buildah <args>` against the private store; stdout, trimmed. */
  async run(args: string[], opts: { logFile?: string } = {}): Promise<string> {
    // The overlay's upper layer lives on a tmpfs mounted in the namespace: gone when buildah exits.
    const scratch = mkdtempSync(join(this.tmp, 'ns-'));
    try {
      // Without overlayfs buildah still works; it then updates that one cache file.
      const script = [
        'mount -t tmpfs -o size=64m,mode=700 podcount-images "$0"',
        'mkdir "$0/upper" "$0/work"',
        'mount -t overlay -o "lowerdir=/var/lib,upperdir=$0/upper,workdir=$0/work" podcount-images /var/lib',
      ].join(' && ') + ' || true; exec "$@"';
      const global = ['--root', this.root, '--runroot', this.runroot, '--storage-driver', 'vfs'];
      const out = await run(['sh', '-c', script, scratch, 'buildah', ...global, ...args], {
        privateMounts: true,
        label: `buildah ${args.slice(0, 2).join(' ')}`,
        ...(opts.logFile ? { logFile: opts.logFile } : {}),
        env: { BUILDAH_ISOLATION: 'chroot', TMPDIR: this.tmp },
      });
      return out.trim();
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  /**
   * A working container from `image` (or `scratch`), removed after `use` whatever happens. Named
   * after this process, so removeAbandonedContainers() knows a killed process's leftovers.
   */
  async withContainer<T>(image: string, use: (container: string) => Promise<T>): Promise<T> {
    const name = `podcount-${process.pid}-${++containers}`;
    const container = await this.run(['from', '--pull=never', '--quiet', '--name', name, image]);
    let result: T;
    try {
      result = await use(container);
    } catch (err) {
      await this.run(['rm', container]).catch(() => {}); // the first error is the one to see
      throw err;
    }
    await this.run(['rm', container]);
    return result;
  }

  /** Working containers of processes that died mid-build (and `buildah bud`'s, unnamed): call holding the cache lock. */
  async removeAbandonedContainers(): Promise<void> {
    const lines = (await this.run(['containers', '--format', '{{.ContainerID}} {{.ContainerName}}'])).split('\n');
    for (const [id, name] of lines.filter(Boolean).map((l) => l.split(' '))) {
      const owner = /^podcount-(\d+)-\d+$/.exec(name ?? '');
      if (owner && alive(Number(owner[1]))) continue;
      await this.run(['rm', id!]);
    }
  }

  /** The folder holding a working container's root filesystem (vfs: a plain directory, no mount). */
  async mount(container: string): Promise<string> {
    return this.run(['mount', container]);
  }

  /** The image's id, or undefined if the store does not have it. */
  async imageId(ref: string): Promise<string | undefined> {
    try {
      return await this.run(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref]);
    } catch {
      return undefined;
    }
  }

  /** Commits the container as `ref`; returns the image id. */
  async commit(container: string, ref: string): Promise<string> {
    return this.run(['commit', '--quiet', container, ref]);
  }

  /**
   * Writes the image as an OCI archive (gzip layers) whose index names it by its tag alone:
   * `ctr images import --base-name localhost/NAME` then names it localhost/NAME:<tag>.
   */
  async pushArchive(ref: string, archive: string): Promise<void> {
    const tag = ref.slice(ref.lastIndexOf(':') + 1);
    await this.run(['push', '--quiet', ref, `oci-archive:${archive}:${tag}`]);
  }

  /** Makes sure the store has the image: a cache entry can outlive it (a wiped store); its archive brings it back. */
  async load(image: BuiltImage): Promise<void> {
    if ((await this.imageId(image.ref)) === image.id) return;
    const id = await this.run(['pull', '--quiet', `oci-archive:${image.archive}`]);
    await this.run(['tag', id.split('\n').at(-1)!, image.ref]);
  }
}
