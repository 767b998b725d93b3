// Local stand-ins for the Dockerfile's two base images, which no registry can serve here:
//  - build base (for `node:24-trixie-slim`): a Debian 13 minbase debootstrap + Node 24 at
//    /usr/local/bin/node + npm/npx, and the machine's CA bundle trusted by node and npm (outbound
//    HTTPS goes through an intercepting proxy). That trust is a property of this local base only.
//  - runtime base (for `gcr.io/distroless/nodejs24-debian13:nonroot`): distroless-shaped, taken
//    from the build base's trixie root: /nodejs/bin/node and exactly the libraries ldd lists for
//    it, passwd/group with root and nonroot (65532), trixie's Mozilla CA bundle, no shell.
// Both are one layer, written straight into a scratch container's folder (vfs: a plain folder).
// Their cache keys hold the source text of their steps and the constants those use.
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { Buildah, run } from './buildah.ts';
import { fileHash, imagesDir } from './cache.ts';

const REPO = resolve(import.meta.dirname, '..', '..');
const SUITE = 'trixie';
const MIRROR = 'http://deb.debian.org/debian';
/** npm for the build stage (node:24 images bundle an npm 11). */
const NPM_VERSION = '11.21.2';
const HOST_CA = '/etc/ssl/certs/ca-certificates.crt';
/** Where the build base keeps the machine's CA bundle (the image's own bundle stays Debian's). */
const BUILD_CA = '/usr/local/share/podcount-build/host-ca-certificates.crt';
const NONROOT = 65532;
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Node 24: the binary of the repo's `node` dev dependency (npm ci installs it). */
export function nodeBinary(): string {
  const node = join(REPO, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(node)) throw new Error(`images: no ${node}: run npm ci (the node dev dependency is the images' Node 24)`);
  return node;
}

/**
 * What determines the build base: its recipe (the steps' source text and the constants they use),
 * the node binary and the machine's CA bundle. (Debian's mirror moves on: a rebuild may pick up
 * newer trixie packages, which the image id then says.)
 */
export function buildBaseInputs(): { recipe: string[]; node: string; hostCa: string } {
  const recipe = [buildBuildBase, install, emptyDir].map(String).concat(SUITE, MIRROR, NPM_VERSION, BUILD_CA, PATH);
  return { recipe, node: fileHash(nodeBinary()), hostCa: fileHash(HOST_CA) };
}

/** What determines the runtime base besides the build base's id: its recipe. */
export function runtimeBaseInputs(): { recipe: string[] } {
  return { recipe: [buildRuntimeBase, copyWithLinks, present, install, makeDir].map(String).concat(String(NONROOT), PATH) };
}

/** The npm package's tarball, fetched once with the machine's npm into the cache (via `tmp`). */
export async function npmTarball(tmp: string): Promise<string> {
  const dir = join(imagesDir(), 'downloads');
  const file = join(dir, `npm-${NPM_VERSION}.tgz`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(tmp, 'npm-'));
  try {
    // Its cache and logs in the temp folder too: nothing written outside the images cache.
    await run(['npm', 'pack', '--silent', `npm@${NPM_VERSION}`, '--pack-destination', work, '--cache', join(work, 'cache'), '--logs-dir', join(work, 'logs'), '--no-update-notifier'], { label: `npm pack npm@${NPM_VERSION}` });
    renameSync(join(work, `npm-${NPM_VERSION}.tgz`), file);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return file;
}

/** Builds the build base into the store under `ref`; returns its id. */
export async function buildBuildBase(b: Buildah, ref: string, npm: string, logFile: string): Promise<string> {
  return b.withContainer('scratch', async (c) => {
    const root = await b.mount(c);
    // debootstrap mounts /proc and /sys in the target: in a private namespace they cannot outlive it.
    await run(['debootstrap', '--variant=minbase', '--include=ca-certificates', SUITE, root, MIRROR], { privateMounts: true, logFile, label: `debootstrap ${SUITE}` });
    // As Debian's docker images: no device nodes (the runtime provides /dev), no apt caches.
    for (const d of ['dev', 'var/cache/apt/archives', 'var/lib/apt/lists']) emptyDir(join(root, d), ['partial', 'lock']);
    for (const f of readdirSync(join(root, 'var/cache/apt')).filter((n) => n.endsWith('.bin'))) rmSync(join(root, 'var/cache/apt', f));

    install(nodeBinary(), join(root, 'usr/local/bin/node'), 0o755);
    const npmDir = join(root, 'usr/local/lib/node_modules/npm');
    mkdirSync(npmDir, { recursive: true });
    await run(['tar', '-xzf', npm, '-C', npmDir, '--strip-components=1', '--no-same-owner']);
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/local/bin/npx'));
    install(HOST_CA, join(root, BUILD_CA), 0o644);

    await b.run(['config', '--os', 'linux', '--arch', 'amd64', '--env', `PATH=${PATH}`,
      '--env', `NODE_EXTRA_CA_CERTS=${BUILD_CA}`, '--env', `NPM_CONFIG_CAFILE=${BUILD_CA}`,
      '--env', 'NPM_CONFIG_UPDATE_NOTIFIER=false', '--cmd', '["node"]', c]);
    // The base must run what the Dockerfile's build stage runs.
    const versions = await b.run(['run', c, '--', 'sh', '-c', 'node --version && npm --version && npx --version']);
    if (!/^v24\./.test(versions)) throw new Error(`images: build base's node says ${versions}`);
    return b.commit(c, ref);
  });
}

/** Builds the runtime base from the build base's root (`buildRef`) into the store under `ref`. */
export async function buildRuntimeBase(b: Buildah, ref: string, buildRef: string): Promise<string> {
  return b.withContainer(buildRef, (src) => b.withContainer('scratch', async (c) => {
    const from = await b.mount(src);
    const root = await b.mount(c);
    install(join(from, 'usr/local/bin/node'), join(root, 'nodejs/bin/node'), 0o755);
    // The paths ldd prints inside trixie, each copied with its symlink chain (lib -> usr/lib, ...).
    const ldd = await b.run(['run', src, '--', 'ldd', '/usr/local/bin/node']);
    const libs = [...ldd.matchAll(/(?:=> )?(\/\S+) \(0x/g)].map((m) => m[1]!);
    if (/not found/.test(ldd) || !libs.some((l) => l.includes('libc.so')) || !libs.some((l) => l.includes('ld-linux'))) throw new Error(`images: unexpected ldd output:\n${ldd}`);
    for (const lib of libs) copyWithLinks(from, lib, root);
    for (const f of ['/etc/ssl/certs/ca-certificates.crt', '/etc/nsswitch.conf', '/etc/os-release']) copyWithLinks(from, f, root);
    // distroless ships tzdata: Go and Node programs resolve zone names like Etc/UTC from it.
    cpSync(join(from, 'usr/share/zoneinfo'), join(root, 'usr/share/zoneinfo'), { recursive: true, verbatimSymlinks: true });

    writeFileSync(join(root, 'etc/passwd'), `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n`);
    writeFileSync(join(root, 'etc/group'), `root:x:0:\nnonroot:x:${NONROOT}:\n`);
    makeDir(join(root, 'root'), 0o700, 0);
    makeDir(join(root, 'home/nonroot'), 0o700, NONROOT);
    makeDir(join(root, 'tmp'), 0o1777, 0);

    await b.run(['config', '--os', 'linux', '--arch', 'amd64', '--env', `PATH=${PATH}`,
      '--env', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt', '--user', `${NONROOT}:${NONROOT}`,
      '--workingdir', '/home/nonroot', '--entrypoint', '["/nodejs/bin/node"]', '--cmd', '', c]);
    const said = await b.run(['run', c, '--', '/nodejs/bin/node', '-p', 'process.version + " " + process.getuid()']);
    if (!new RegExp(`^v24\\.\\d+\\.\\d+ ${NONROOT}$`).test(said)) {
      throw new Error(`images: runtime base's node says ${said}`);
    }
    return b.commit(c, ref);
  }));
}

/** Copies `path` from the root `from` to the root `to`, recreating every symlink on the way. */
function copyWithLinks(from: string, path: string, to: string, depth = 0): void {
  if (depth > 16) throw new Error(`images: symlink loop at ${path}`);
  const parts = path.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const here = '/' + parts.slice(0, i + 1).join('/');
    const st = lstatSync(join(from, here));
    if (st.isSymbolicLink()) {
      const target = readlinkSync(join(from, here));
      if (!present(join(to, here))) {
        mkdirSync(dirname(join(to, here)), { recursive: true });
        symlinkSync(target, join(to, here));
      }
      const resolved = posix.resolve(posix.dirname(here), target, ...parts.slice(i + 1));
      return copyWithLinks(from, resolved, to, depth + 1);
    }
    if (i < parts.length - 1) {
      if (!st.isDirectory()) throw new Error(`images: ${here} in ${from} is not a folder`);
      continue;
    }
    if (!st.isFile()) throw new Error(`images: ${here} in ${from} is not a file`);
    install(join(from, here), join(to, here), st.mode & 0o7777);
  }
}

/** Whether the path exists, dangling symlinks included. */
function present(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function install(src: string, dst: string, mode: number): void {
  mkdirSync(dirname(dst), { recursive: true, mode: 0o755 });
  copyFileSync(src, dst);
  chmodSync(dst, mode);
}

function makeDir(dir: string, mode: number, owner: number): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, mode);
  chownSync(dir, owner, owner);
}

function emptyDir(dir: string, keep: string[]): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir)) if (!keep.includes(e)) rmSync(join(dir, e), { recursive: true, force: true });
}
