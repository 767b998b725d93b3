// The test cluster's images, built on this machine without any registry (none is reachable):
// pause, coredns, podcount (the repo's Dockerfile with local stand-ins for its two bases), a
// curl-like client and a hello-world floor; and Knative's commands as ko builds them (knative.ts,
// ensureKnativeImages). Each is an OCI archive for
// `ctr -n k8s.io images import --base-name localhost/NAME <archive>`, which names it `ref`.
// Cached in ~/.cache/podcount/images/ by a key of everything that determines it (recipe text,
// inputs' content, base images' ids): a second call with nothing changed reads only hashes.
// CLI: `node test/images/images.ts --coredns /path/to/coredns` builds (or finds) all and prints
// them as JSON.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, delimiter, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MODULE_DIR as CONTROLPLANE_DIR } from '../controlplane/binaries.ts';
import { buildIntoCache, findGo } from '../controlplane/go-cache.ts';
import { buildBaseInputs, buildBuildBase, buildRuntimeBase, npmTarball, runtimeBaseInputs } from './bases.ts';
import { Buildah, run } from './buildah.ts';
import { entryComplete, entryDir, fileHash, imagesDir, keyOf, pruneEntries, readEntry, treeHash, withLock, type BuiltImage } from './cache.ts';
import { buildKnativeBase, knativeAppInputs, knativeAppStep, knativeBaseInputs } from './knative.ts';

export type { BuiltImage } from './cache.ts';
export { inspectImage, runInImage, writableBy, type FileFacts, type ImageFacts } from './inspect.ts';

export interface Images {
  pause: BuiltImage;
  coredns: BuiltImage;
  podcount: BuiltImage;
  client: BuiltImage;
  hello: BuiltImage;
  curl: BuiltImage;
}

export interface EnsureOptions {
  /** Progress: one line per image built, or one saying all came from the cache. Default: stderr. */
  log?: (line: string) => void;
}

const REPO = resolve(import.meta.dirname, '..', '..');
const FILES = join(import.meta.dirname, 'image-files');
/** Cache entries kept per image name (the newest by last use); older ones and their store images go. */
const KEEP_PER_NAME = 2;
/** The repo files the podcount image is made of (with every file under function/). */
const PODCOUNT_INPUTS = ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'tsconfig.json'];

/** All five images, built into the cache where missing. `corednsBinary`: a static coredns. */
export async function ensureImages(opts: { corednsBinary: string } & EnsureOptions): Promise<Images> {
  return session(opts, async (s) => ({
    pause: await s.pause(),
    coredns: await s.coredns(opts.corednsBinary),
    podcount: await s.podcount(),
    client: await s.client(),
    hello: await s.hello(),
    curl: await s.curl(),
  }));
}

/** One image (and the bases it needs) without the others, e.g. for a test of that image alone. */
export async function ensureImage(name: Exclude<keyof Images, 'coredns'>, opts: EnsureOptions = {}): Promise<BuiltImage> {
  return session(opts, (s) => s[name]());
}

/** A Knative command to image: `name` (e.g. knative-serving-queue) and its static binary. */
export interface KnativeCommand {
  name: string;
  binary: string;
}

/**
 * Knative's images as ko builds them (test/images/knative.ts), one per command, by `name`:
 * `localhost/<name>:<key>`, built into the cache where missing.
 */
export async function ensureKnativeImages(commands: KnativeCommand[], opts: EnsureOptions = {}): Promise<Record<string, BuiltImage>> {
  return session(opts, async (s) => {
    const out: Record<string, BuiltImage> = {};
    for (const c of commands) out[c.name] = await s.knative(c);
    return out;
  });
}

async function session<T>(opts: EnsureOptions, use: (s: Session) => Promise<T>): Promise<T> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const dir = imagesDir();
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  return withLock(dir, log, async () => {
    const s = new Session(new Buildah(dir), log);
    const result = await use(s);
    if (s.built === 0) log(`images: all from the cache in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})`);
    else await s.prune();
    return result;
  });
}

class Session {
  built = 0;
  readonly #b: Buildah;
  readonly #log: (line: string) => void;
  readonly #memo = new Map<string, Promise<BuiltImage>>();
  readonly #names = new Set<string>();
  #cleaned = false;
  #buildBase: Promise<BuiltImage> | undefined;
  #runtimeBase: Promise<BuiltImage> | undefined;
  #knativeBase: Promise<BuiltImage> | undefined;

  constructor(b: Buildah, log: (line: string) => void) {
    this.#b = b;
    this.#log = log;
  }

  buildBase(): Promise<BuiltImage> {
    // Memoized here too: its key hashes the 120 MB node binary.
    this.#buildBase ??= this.#entry('podcount-build-base', buildBaseInputs(), [], async (ref, logFile) => buildBuildBase(this.#b, ref, await npmTarball(this.#b.tmp), logFile));
    return this.#buildBase;
  }

  runtimeBase(): Promise<BuiltImage> {
    this.#runtimeBase ??= this.buildBase().then((build) =>
      this.#entry('podcount-runtime-base', runtimeBaseInputs(), [build], (ref) => buildRuntimeBase(this.#b, ref, build.ref)));
    return this.#runtimeBase;
  }

  /** k8s's pause, compiled as its Makefile does (static, stripped), USER 65535 as upstream. */
  pause(): Promise<BuiltImage> {
    const source = pauseSource();
    const cc = ['gcc', '-Os', '-Wall', '-Werror', '-static', '-s', '-DVERSION=v3.10.2-podcount'];
    const gcc = execFileSync('gcc', ['--version'], { encoding: 'utf8' }).split('\n')[0];
    return this.#entry('pause', { source: fileHash(source), cc, gcc }, [], async (ref, logFile) => {
      const binary = join(this.#b.tmp, 'pause');
      try {
        await run([...cc, '-o', binary, source], { logFile, label: 'gcc pause.c' });
        return await this.#b.withContainer('scratch', async (c) => {
          await this.#b.run(['copy', '--chmod', '0755', c, binary, '/pause']);
          await this.#b.run(['config', '--entrypoint', '["/pause"]', '--cmd', '', '--user', '65535:65535', c]);
          return this.#b.commit(c, ref);
        });
      } finally {
        rmSync(binary, { force: true });
      }
    });
  }

  /** The given static coredns at /coredns, nonroot as upstream's image. */
  coredns(binary: string): Promise<BuiltImage> {
    if (!existsSync(binary)) throw new Error(`images: no coredns binary at ${binary}`);
    return this.#entry('coredns', { binary: fileHash(binary) }, [], (ref) =>
      this.#b.withContainer('scratch', async (c) => {
        await this.#b.run(['copy', '--chmod', '0755', c, binary, '/coredns']);
        await this.#b.run(['config', '--entrypoint', '["/coredns"]', '--cmd', '', '--user', '65532:65532', '--port', '53/udp', '--port', '53/tcp', c]);
        return this.#b.commit(c, ref);
      }));
  }

  /** The repo's Dockerfile, as a user builds it, with the two local bases as its build arguments. */
  async podcount(): Promise<BuiltImage> {
    const [build, runtime] = [await this.buildBase(), await this.runtimeBase()];
    const inputs = { ...Object.fromEntries(PODCOUNT_INPUTS.map((f) => [f, fileHash(join(REPO, f))])), function: treeHash(join(REPO, 'function')) };
    return this.#entry('podcount', inputs, [build, runtime], async (ref, logFile) => {
      const iidfile = join(this.#b.tmp, 'podcount.iid');
      try {
        await this.#b.run(['bud', '--pull=never', '--isolation', 'chroot', '--layers=false', '--iidfile', iidfile,
          '--build-arg', `BUILD_IMAGE=${build.ref}`, '--build-arg', `RUNTIME_IMAGE=${runtime.ref}`,
          '-f', join(REPO, 'Dockerfile'), '-t', ref, REPO], { logFile });
        return readFileSync(iidfile, 'utf8').trim().replace(/^sha256:/, '');
      } finally {
        rmSync(iidfile, { force: true });
      }
    });
  }

  /** The runtime base + /client.mjs (a curl) and /idle.mjs as the command (waits for SIGTERM). */
  async client(): Promise<BuiltImage> {
    const base = await this.runtimeBase();
    const files = ['client.mjs', 'idle.mjs'];
    return this.#entry('client', { files: files.map((f) => [f, fileHash(join(FILES, f))]) }, [base], (ref) =>
      this.#b.withContainer(base.ref, async (c) => {
        for (const f of files) await this.#b.run(['copy', '--chown', '0:0', '--chmod', '0644', c, join(FILES, f), `/${f}`]);
        await this.#b.run(['config', '--cmd', '["/idle.mjs"]', c]);
        return this.#b.commit(c, ref);
      }));
  }

  /** The runtime base + /app/hello.mjs, built as podcount's runtime stage: root-owned code, user 65532. */
  async hello(): Promise<BuiltImage> {
    const base = await this.runtimeBase();
    return this.#entry('hello', { file: fileHash(join(FILES, 'hello.mjs')) }, [base], (ref) =>
      this.#b.withContainer(base.ref, async (c) => {
        await this.#b.run(['copy', '--chown', '0:0', '--chmod', '0644', c, join(FILES, 'hello.mjs'), '/app/hello.mjs']);
        await this.#b.run(['config', '--workingdir', '/app', '--cmd', '["/app/hello.mjs"]', '--port', '8080/tcp', c]);
        return this.#b.commit(c, ref);
      }));
  }

  /**
   * Debian trixie's curl, for the shipped CronJob (which runs `/bin/sh -c "exec curl ..."` from
   * curlimages/curl): the build base with Debian's curl package, user 100 as curlimages/curl.
   */
  async curl(): Promise<BuiltImage> {
    const base = await this.buildBase();
    return this.#entry('curl', { packages: ['curl'] }, [base], (ref, logFile) =>
      this.#b.withContainer(base.ref, async (c) => {
        await this.#b.run(['run', '--isolation', 'chroot', c, '--', 'sh', '-c',
          'apt-get update -qq && apt-get install -y -qq --no-install-recommends curl && rm -rf /var/lib/apt/lists/*'], { logFile });
        await this.#b.run(['config', '--user', '100:101', '--entrypoint', '["curl"]', '--cmd', '["--help"]', '--workingdir', '/', c]);
        return this.#b.commit(c, ref);
      }));
  }

  /** Knative's static base (distroless static:nonroot's shape), from the runtime base's trixie files. */
  knativeBase(): Promise<BuiltImage> {
    this.#knativeBase ??= this.runtimeBase().then((runtime) =>
      this.#entry('knative-static-base', knativeBaseInputs(), [runtime], (ref) => buildKnativeBase(this.#b, ref, runtime.ref)));
    return this.#knativeBase;
  }

  /** One Knative command as ko lays it out: /ko-app/<binary's name> on the static base. */
  async knative(c: KnativeCommand): Promise<BuiltImage> {
    const base = await this.knativeBase();
    const app = basename(c.binary);
    return this.#entry(c.name, { ...knativeAppInputs(), app, binary: fileHash(c.binary) }, [base], (ref) =>
      knativeAppStep(this.#b, ref, base.ref, c.binary, app));
  }

  /** Older cache entries of the names this session used, and their images in the store. */
  async prune(): Promise<void> {
    for (const name of this.#names) {
      for (const ref of pruneEntries(name, KEEP_PER_NAME)) await this.#b.run(['rmi', ref]).catch(() => {});
    }
    // Intermediate images of `buildah bud` (its build stage) and untagged leftovers.
    await this.#b.run(['rmi', '--prune']).catch(() => {});
  }

  /**
   * The cache entry `name`-<key>, built when missing: `build(ref, logFile)` commits the image
   * under `ref` in the store and returns its id; the archive is written and published by rename.
   * The key: the inputs' content, the bases' ids and the recipe, which is `build`'s source text
   * (the buildah arguments are written in it).
   */
  #entry(name: string, inputs: unknown, bases: BuiltImage[], build: (ref: string, logFile: string) => Promise<string>): Promise<BuiltImage> {
    const key = keyOf({ name, inputs, bases: bases.map((b) => b.id), recipe: build.toString() });
    const memoKey = `${name}-${key}`;
    let p = this.#memo.get(memoKey);
    if (!p) {
      p = this.#ensure(name, key, bases, build);
      this.#memo.set(memoKey, p);
      this.#names.add(name);
    }
    return p;
  }

  async #ensure(name: string, key: string, bases: BuiltImage[], build: (ref: string, logFile: string) => Promise<string>): Promise<BuiltImage> {
    const dir = entryDir(name, key);
    if (entryComplete(dir)) return readEntry(dir);
    const b = this.#b;
    if (!this.#cleaned) {
      await b.removeAbandonedContainers();
      this.#cleaned = true;
    }
    // A base whose cache entry outlived its image in the store (a wiped store): load it back.
    for (const base of bases) await b.load(base);
    const ref = `localhost/${name}:${key}`;
    const logFile = join(b.dir, 'logs', `${name}-${key}.log`);
    mkdirSync(join(b.dir, 'logs'), { recursive: true });
    rmSync(logFile, { force: true });
    const started = Date.now();
    try {
      await buildIntoCache(dir, entryComplete, async (tmp) => {
        const id = await build(ref, logFile);
        const archive = join(tmp, 'image.tar');
        await b.pushArchive(ref, archive);
        writeFileSync(join(tmp, 'image.json'), `${JSON.stringify({ ref, id, bytes: statSync(archive).size }, null, 2)}\n`);
      });
    } catch (err) {
      const more = existsSync(logFile) ? ` (full log: ${logFile})` : '';
      throw new Error(`images: building ${name} failed${more}: ${(err as Error).message}`, { cause: err });
    }
    rmSync(logFile, { force: true });
    this.built++;
    const image = readEntry(dir);
    this.#log(`images: built ${name} in ${((Date.now() - started) / 1000).toFixed(1)} s (${(image.bytes / 1e6).toFixed(1)} MB archive) -> ${image.ref}`);
    return image;
  }
}

/** build/pause/linux/pause.c of the k8s.io/kubernetes module pinned by test/controlplane/go.mod. */
function pauseSource(): string {
  const pin = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)(\s|$)/m.exec(readFileSync(join(CONTROLPLANE_DIR, 'go.mod'), 'utf8'));
  if (!pin) throw new Error('images: test/controlplane/go.mod does not require k8s.io/kubernetes vX.Y.Z');
  // The module cache's path without running go (which would count telemetry in ~/.config/go).
  const gopath = (process.env['GOPATH'] || join(homedir(), 'go')).split(delimiter)[0]!;
  const inCache = join(process.env['GOMODCACHE'] || join(gopath, 'pkg', 'mod'), `k8s.io/kubernetes@${pin[1]}`, 'build/pause/linux/pause.c');
  if (existsSync(inCache)) return inCache;
  const go = findGo('images: the pause image is compiled from the k8s.io/kubernetes module source');
  const env = { ...process.env, GOWORK: 'off' };
  const info = JSON.parse(execFileSync(go, ['mod', 'download', '-json', `k8s.io/kubernetes@${pin[1]}`], { encoding: 'utf8', env, cwd: imagesDir() })) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`images: go mod download k8s.io/kubernetes@${pin[1]}: ${info.Error}`);
  return join(info.Dir, 'build/pause/linux/pause.c');
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { coredns: { type: 'string' } } });
  if (!values.coredns) {
    console.error('usage: node test/images/images.ts --coredns /path/to/static/coredns');
    process.exit(2);
  }
  const images = await ensureImages({ corednsBinary: resolve(values.coredns) });
  console.log(JSON.stringify(images, null, 2));
}
