// What an image in the private store is: its config (buildah inspect) and every path of its root
// filesystem with owner, mode and type, read from a working container's folder (vfs: no mount),
// which is removed before returning.
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Buildah } from './buildah.ts';
import { imagesDir, type BuiltImage } from './cache.ts';

export interface FileFacts {
  type: 'file' | 'dir' | 'symlink' | 'other';
  uid: number;
  gid: number;
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  size: number;
}

export interface ImageFacts {
  id: string;
  /** As in the image config: 'UID:GID' or a name, '' when unset. */
  user: string;
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  exposedPorts: string[];
  /** Every path in the root filesystem ('/app/dist/main.mjs'), '/' included. */
  files: Map<string, FileFacts>;
  /** The content of a regular file in the image. */
  read: (path: string) => Buffer;
}

interface OciConfig {
  config?: { User?: string; Entrypoint?: string[] | null; Cmd?: string[] | null; Env?: string[] | null; WorkingDir?: string; ExposedPorts?: Record<string, unknown> | null };
}

/**
 * The image's config and a snapshot of its files. A BuiltImage whose image left the store is
 * loaded back from its archive first.
 */
export async function inspectImage(image: BuiltImage | string): Promise<ImageFacts> {
  const b = new Buildah(imagesDir());
  const ref = typeof image === 'string' ? image : image.ref;
  if (typeof image !== 'string') await b.load(image);
  const inspected = JSON.parse(await b.run(['inspect', '--type', 'image', ref])) as { FromImageID: string; OCIv1: OciConfig };
  const config = inspected.OCIv1.config ?? {};
  const contents = new Map<string, Buffer>();
  const files = await b.withContainer(ref, async (c) => {
    const root = await b.mount(c);
    const out = new Map<string, FileFacts>();
    const walk = (path: string): void => {
      const st = lstatSync(join(root, path));
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      out.set(path, { type, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, size: st.size });
      // Regular files up to 64 KiB are kept for read() (the folder goes with the container).
      if (type === 'file' && st.size <= 64 * 1024) contents.set(path, readFileSync(join(root, path)));
      if (type === 'dir') for (const e of readdirSync(join(root, path)).sort()) walk(path === '/' ? `/${e}` : `${path}/${e}`);
    };
    walk('/');
    return out;
  });
  return {
    id: inspected.FromImageID,
    user: config.User ?? '',
    entrypoint: config.Entrypoint ?? [],
    cmd: config.Cmd ?? [],
    env: config.Env ?? [],
    workingDir: config.WorkingDir ?? '',
    exposedPorts: Object.keys(config.ExposedPorts ?? {}),
    files,
    read: (path) => {
      const content = contents.get(path);
      if (!content) throw new Error(`${ref}: ${path} is not a regular file of at most 64 KiB in the image`);
      return content;
    },
  };
}

/**
 * Runs `argv` in a throwaway working container of the image, as the image's user, and returns its
 * stdout (trimmed). chroot isolation shares the machine's network: 127.0.0.1 is the machine's.
 */
export async function runInImage(image: BuiltImage | string, argv: string[]): Promise<string> {
  const b = new Buildah(imagesDir());
  const ref = typeof image === 'string' ? image : image.ref;
  if (typeof image !== 'string') await b.load(image);
  return b.withContainer(ref, (c) => b.run(['run', c, '--', ...argv]));
}

/** Whether a process running as uid:gid (no supplementary groups) may write to the path. */
export function writableBy(f: FileFacts, uid: number, gid: number): boolean {
  if (uid === 0) return true;
  if (f.uid === uid) return (f.mode & 0o200) !== 0;
  if (f.gid === gid) return (f.mode & 0o020) !== 0;
  return (f.mode & 0o002) !== 0;
}
