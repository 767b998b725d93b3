// The image cache: ~/.cache/podcount/images/<name>-<key>/{image.tar,image.json}, one folder per
// image and key (a hash of everything that determines the image), published by one rename so a
// killed build never leaves half an entry. One build at a time per cache: a lock file holding
// the builder's pid (a dead holder's lock is taken over).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cacheRoot } from '../controlplane/go-cache.ts';

export function imagesDir(): string {
  return join(cacheRoot(), 'images');
}

/** What the cache keeps per image; `ref` names it in the private store and, once imported, in containerd. */
export interface BuiltImage {
  /** `localhost/NAME:<key>`: `ctr -n k8s.io images import --base-name localhost/NAME <archive>` names it so. */
  ref: string;
  /** An OCI archive (tar, gzip-compressed layers) whose index names the image by its tag alone. */
  archive: string;
  /** The archive's size on disk (compressed layers + config + manifest). */
  bytes: number;
  /** The image id (the digest of its config), which dependents' keys include. */
  id: string;
}

/** A 16-hex-digit key of JSON-serialisable parts. */
export function keyOf(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

export function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Every regular file under `dir`, as relative path → content hash, sorted. */
export function treeHash(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[relative(dir, p)] = fileHash(p);
    }
  };
  walk(dir);
  return out;
}

export function entryDir(name: string, key: string): string {
  return join(imagesDir(), `${name}-${key}`);
}

export function entryComplete(dir: string): boolean {
  return existsSync(join(dir, 'image.tar')) && existsSync(join(dir, 'image.json'));
}

export function readEntry(dir: string): BuiltImage {
  const meta = JSON.parse(readFileSync(join(dir, 'image.json'), 'utf8')) as Omit<BuiltImage, 'archive'>;
  // Last use, for pruning.
  const now = new Date();
  utimesSync(join(dir, 'image.json'), now, now);
  return { ...meta, archive: join(dir, 'image.tar') };
}

/** Entries of `name` beyond the `keep` most recently used: their folders go, their refs are returned. */
export function pruneEntries(name: string, keep: number): string[] {
  const dir = imagesDir();
  const mine = readdirSync(dir)
    .filter((e) => e.startsWith(`${name}-`) && /^[0-9a-f]{16}$/.test(e.slice(name.length + 1)) && entryComplete(join(dir, e)))
    .map((e) => ({ e, used: statSync(join(dir, e, 'image.json')).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  return mine.slice(keep).map(({ e }) => {
    rmSync(join(dir, e), { recursive: true, force: true });
    return `localhost/${name}:${e.slice(name.length + 1)}`;
  });
}

/** Runs `fn` holding the cache's lock; waits (logging once) while another live process holds it. */
export async function withLock<T>(dir: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, 'lock');
  let said = false;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let text: string;
    try {
      text = readFileSync(lock, 'utf8').trim();
    } catch {
      continue; // released meanwhile
    }
    if (text === '') {
      // Caught between the holder's create and write; empty for long: a holder killed right there.
      await sleep(200);
      try {
        if (readFileSync(lock, 'utf8').trim() === '') rmSync(lock, { force: true });
      } catch {
        // released meanwhile
      }
      continue;
    }
    const holder = Number(text);
    if (!alive(holder)) {
      rmSync(lock, { force: true }); // a SIGKILLed builder's
      continue;
    }
    if (!said) log(`images: waiting for another image build (pid ${holder})...`);
    said = true;
    await sleep(500);
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
