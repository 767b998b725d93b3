// What the two Go-built test tools (the control plane, the Knative validator) share: where their
// cache lives, finding Go, and building into a cache folder keyed by the pins. A build writes to `<dir>.tmp-<pid>` and is
// published by one rename, so a killed build never leaves a half-filled folder; temp folders of
// builds whose process died are removed before the next one.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export class MissingToolchainError extends Error {}

/** ~/.cache/podcount (or under $XDG_CACHE_HOME): every tool's cache folder is inside. */
export function cacheRoot(): string {
  return join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'podcount');
}

export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** The go binary: on PATH, under GOROOT, or where the official tarball installs it. */
export function findGo(what: string): string {
  const candidates = [onPath('go'), process.env['GOROOT'] && join(process.env['GOROOT'], 'bin', 'go'), '/usr/local/go/bin/go'];
  const go = candidates.find((c): c is string => !!c && executable(c));
  if (!go) throw new MissingToolchainError(`${what}: install Go 1.26 (https://go.dev/dl) and put it on PATH`);
  return go;
}

/** Runs `build(tmp)` and publishes tmp as `dir`; `complete(dir)` says whether a folder is usable. */
export async function buildIntoCache(dir: string, complete: (dir: string) => boolean, build: (tmp: string) => Promise<void>): Promise<void> {
  removeAbandonedBuilds(dir);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await build(tmp);
    if (existsSync(dir) && !complete(dir)) rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another process published the same pins first: theirs is as good as ours.
      if (!complete(dir)) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Temp folders of builds whose process died (SIGKILL, power loss). */
function removeAbandonedBuilds(dir: string): void {
  const parent = join(dir, '..');
  if (!existsSync(parent)) return;
  const prefix = `${dir.slice(parent.length + 1)}.tmp-`;
  for (const entry of readdirSync(parent)) {
    if (entry.startsWith(prefix) && !alive(Number(entry.slice(prefix.length)))) rmSync(join(parent, entry), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `go args...` in `cwd`; rejects with the tail of its stderr, prefixed by `what`. */
export function goBuild(go: string, o: { cwd: string; env: Record<string, string>; what: string }, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(go, args, { cwd: o.cwd, stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, ...o.env } });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-8000); });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0
      ? resolve()
      : reject(new Error(`${o.what}: go ${args.join(' ')} failed (${signal ?? code}):\n${stderr.slice(-4000)}`))));
  });
}
