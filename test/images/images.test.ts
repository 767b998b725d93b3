// The test cluster's images, built for real by test/images/images.ts (root, Debian's buildah and
// debootstrap; the first build takes about a minute, then the cache answers) and checked as
// files: what the podcount image promises (a non-root process that cannot rewrite its code, a
// compile cache written at build time by the uid that reads it), the runtime base's distroless
// shape, and the client and hello images, whose scripts also run here and inside the image.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { onPath } from '../controlplane/go-cache.ts';
import { imagesDir } from './cache.ts';
import { ensureImage, inspectImage, runInImage, writableBy, type BuiltImage, type ImageFacts } from './images.ts';

const FILES = join(import.meta.dirname, 'image-files');
const NONROOT = 65532;
const BUILD_TIMEOUT_MS = 15 * 60_000;
const missing = ['buildah', 'debootstrap', 'gcc'].filter((t) => !onPath(t));
const cannot = process.getuid?.() !== 0 ? 'needs root (buildah, debootstrap)' : missing.length ? `needs ${missing.join(', ')}: apt-get install -y buildah debootstrap gcc libc6-dev` : undefined;
// A missing tool is a failure with the fix, never a skip: .ci/run installs them.
if (cannot) throw new Error(`test/images: ${cannot}`);
// Mounts the image tools could leave (buildah's store, its /var/lib overlay, debootstrap's
// /proc in a target): none before, none after. Only those: a cluster test running beside this
// file may add its own (a network namespace).
const ourMounts = () => readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(imagesDir()) || l.includes('podcount-images') || / \/var\/lib[ /]/.test(l));
const mountsAtStart = ourMounts();

describe('the podcount image (the repo Dockerfile on the local bases)', () => {
  let image: BuiltImage;
  let facts: ImageFacts;
  const file = (path: string) => {
    const f = facts.files.get(path);
    assert.ok(f, `${path} is in the image`);
    return f;
  };

  before(async () => {
    if (cannot) throw new Error(`images: ${cannot}`);
    image = await ensureImage('podcount');
    facts = await inspectImage(image);
  }, { timeout: BUILD_TIMEOUT_MS });

  it('is an OCI archive named localhost/podcount:<key>', () => {
    assert.match(image.ref, /^localhost\/podcount:[0-9a-f]{16}$/);
    assert.equal(facts.id, image.id);
    const tar = readFileSync(image.archive);
    assert.ok(tar.includes('"org.opencontainers.image.ref.name":"' + image.ref.split(':')[1] + '"'), 'index.json names the tag');
  });

  it('runs node as 65532:65532 with npm start\'s arguments', () => {
    assert.equal(facts.user, `${NONROOT}:${NONROOT}`);
    assert.deepEqual(facts.entrypoint, ['/nodejs/bin/node']);
    assert.deepEqual(facts.cmd, ['--max-semi-space-size=2', 'dist/main.mjs']);
    assert.equal(facts.workingDir, '/app');
    assert.ok(facts.env.includes('NODE_ENV=production'));
  });

  it('/app, /app/dist and the code belong to root, and 65532 can write none of them', () => {
    for (const path of ['/app', '/app/dist', '/app/dist/main.mjs']) {
      const f = file(path);
      assert.deepEqual([f.uid, f.gid], [0, 0], `${path} owner`);
      assert.equal(writableBy(f, NONROOT, NONROOT), false, `${path} writable by ${NONROOT}`);
    }
    const code = [...facts.files].filter(([p]) => p.startsWith('/app/') && !p.startsWith('/app/dist/.compile-cache'));
    assert.ok(code.length >= 3);
    for (const [path, f] of code) assert.ok(f.uid === 0 && !writableBy(f, NONROOT, NONROOT), `${path}: ${f.uid}:${f.gid} ${f.mode.toString(8)}`);
  });

  it('holds the compile cache, written at build time by 65532 (Node reads only its own uid\'s)', () => {
    const cache = file('/app/dist/.compile-cache');
    assert.equal(cache.uid, NONROOT);
    const dirs = [...facts.files].filter(([p, f]) => f.type === 'dir' && /^\/app\/dist\/\.compile-cache\/v24\.[^/]+-65532$/.test(p));
    assert.equal(dirs.length, 1, 'one v24.x-x64-<hash>-65532 folder');
    const entries = [...facts.files].filter(([p, f]) => p.startsWith(`${dirs[0]![0]}/`) && f.type === 'file');
    assert.ok(entries.length > 0, 'cache entries');
    for (const [path, f] of entries) assert.ok(f.uid === NONROOT && f.size > 0, `${path}: ${f.uid} ${f.size} bytes`);
  });

  it('holds the bundle only: no node_modules, no sources, no npm, no shell', () => {
    const paths = [...facts.files.keys()];
    assert.deepEqual(paths.filter((p) => /node_modules|\.ts$|\/function\b|\/npm\b|^\/(usr\/)?bin\/(ba|da)?sh$/.test(p)), []);
  });

  it('is distroless-shaped: node, its libraries, nonroot, trixie\'s CA bundle, /tmp', () => {
    assert.equal(file('/nodejs/bin/node').mode, 0o755);
    assert.match(facts.read('/etc/passwd').toString(), /^nonroot:x:65532:65532:[^:]*:\/home\/nonroot:/m);
    assert.match(facts.read('/etc/group').toString(), /^nonroot:x:65532:/m);
    assert.deepEqual([file('/home/nonroot').uid, file('/tmp').mode], [NONROOT, 0o1777]);
    assert.ok(file('/etc/ssl/certs/ca-certificates.crt').size > 100_000);
    assert.equal(paths().some((p) => p.includes('podcount-build')), false, 'the build base\'s CA trust stays there');
    // Exactly what ldd lists for node (glibc's compatibility stubs included) and the loader.
    const libs = paths().filter((p) => /^\/usr\/lib(64)?\/.+\.so/.test(p)).map((p) => p.replace(/^.*\//, '')).sort();
    assert.deepEqual(libs.filter((l) => !/^libstdc\+\+\.so\.6\.0\.\d+$/.test(l)), [
      'ld-linux-x86-64.so.2', 'ld-linux-x86-64.so.2', 'libc.so.6', 'libdl.so.2', 'libgcc_s.so.1', 'libm.so.6', 'libpthread.so.0', 'libstdc++.so.6',
    ]);
  });

  it('left no mount behind', () => {
    assert.deepEqual(ourMounts(), mountsAtStart);
  });

  function paths(): string[] {
    return [...facts.files.keys()];
  }
});

describe('the client and hello scripts', () => {
  it('client.mjs prints status, the headers that matter, a blank line and the body; exit 0 on any status', async () => {
    await withHello(async (url) => {
      const { stdout, code } = await node([join(FILES, 'client.mjs'), url, '-H', 'Host: x.example', '-X', 'PUT', '-d', '{"a":1}']);
      assert.equal(code, 0);
      assert.equal(stdout, '200\ncontent-type: application/json\n\n{"hello":"world"}');
    });
    const { stdout, code } = await withServer((_req, res) => {
      res.writeHead(503, { 'retry-after': '3', 'ce-id': 'x1', 'ce-type': 't', 'x-other': 'hidden' });
      res.end('busy');
    }, (url) => node([join(FILES, 'client.mjs'), url]));
    assert.equal(code, 0);
    assert.equal(stdout, '503\nretry-after: 3\nce-id: x1\nce-type: t\n\nbusy');
  });

  it('client.mjs exits 1 when no answer comes, 2 on bad usage', async () => {
    const port = await freePort();
    const refused = await node([join(FILES, 'client.mjs'), `http://127.0.0.1:${port}/`]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /ECONNREFUSED/);
    assert.equal((await node([join(FILES, 'client.mjs'), '-H'])).code, 2);
  });

  it('hello.mjs and idle.mjs exit 0 at once on SIGTERM', async () => {
    const port = await freePort();
    for (const [script, env] of [['hello.mjs', { PORT: String(port) }], ['idle.mjs', {}]] as const) {
      const child = spawn(process.execPath, [join(FILES, script)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
      if (script === 'hello.mjs') await once(child.stdout!, 'data');
      else await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, script);
      assert.ok(Date.now() - started < 2000, `${script} took ${Date.now() - started} ms`);
    }
  });
});

describe('the client and hello images', () => {
  let client: BuiltImage;
  let hello: ImageFacts;

  before(async () => {
    if (cannot) throw new Error(`images: ${cannot}`);
    client = await ensureImage('client');
    hello = await inspectImage(await ensureImage('hello'));
  }, { timeout: BUILD_TIMEOUT_MS });

  it('client: the runtime base\'s node runs /client.mjs as 65532 against a server on this machine', async () => {
    await withHello(async (url) => {
      assert.equal(await runInImage(client, ['/nodejs/bin/node', '-p', 'process.getuid()']), String(NONROOT));
      assert.equal(await runInImage(client, ['/nodejs/bin/node', '/client.mjs', url]), '200\ncontent-type: application/json\n\n{"hello":"world"}');
    });
    const facts = await inspectImage(client);
    assert.deepEqual([facts.entrypoint, facts.cmd, facts.user], [['/nodejs/bin/node'], ['/idle.mjs'], `${NONROOT}:${NONROOT}`]);
  });

  it('hello: root-owned /app/hello.mjs run by node as 65532 on 8080', () => {
    assert.deepEqual([hello.entrypoint, hello.cmd, hello.user, hello.exposedPorts], [['/nodejs/bin/node'], ['/app/hello.mjs'], `${NONROOT}:${NONROOT}`, ['8080/tcp']]);
    const f = hello.files.get('/app/hello.mjs')!;
    assert.deepEqual([f.uid, f.mode, writableBy(hello.files.get('/app')!, NONROOT, NONROOT)], [0, 0o644, false]);
  });
});

const run = promisify(execFile);

async function node(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, args, { timeout: 40_000 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** hello.mjs on a free loopback port for the duration of `use`. */
async function withHello<T>(use: (url: string) => Promise<T>): Promise<T> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(FILES, 'hello.mjs')], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await once(child.stdout!, 'data');
    return await use(`http://127.0.0.1:${port}/`);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

async function withServer<T>(handler: import('node:http').RequestListener, use: (url: string) => Promise<T>): Promise<T> {
  const { createServer: http } = await import('node:http');
  const server = http(handler).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}
