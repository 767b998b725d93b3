// The image ships dist/ alone. This proves the bundle needs nothing else: dist/ is copied to an
// empty folder (no node_modules anywhere above it) and every lazily loaded part is exercised:
// the CloudEvents SDK (an event) and client-node (a kubeconfig). It also runs the Dockerfile's
// runtime stage on such a copy: the code cache written once by the runtime user, then read back.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ControlPlane } from '../support/controlplane.ts';
import { mutantEnv, startArgs } from '../support/function-process.ts';
import { createPods } from '../support/pods.ts';
import { waitFor } from '../support/poll.ts';
import { freePort } from '../support/ports.ts';

const DIST = resolve(import.meta.dirname, '..', '..', 'dist');

/** The bundle files a module loads by static imports, itself included (dynamic import() excluded). */
function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    // Minified ESM: import{a as b}from"./chunks/x.mjs", import"./x.mjs", import*as c from"...". Not import("...").
    for (const m of readFileSync(file, 'utf8').matchAll(/\bimport\s*(?:\{[^}]*\}|\*\s*as\s*[\w$]+|[\w$]+(?:\s*,\s*\{[^}]*\})?)?\s*(?:from)?\s*"(\.{1,2}\/[^"]+)"/g)) {
      visit(join(file, '..', m[1]!));
    }
  };
  visit(entry);
  return seen;
}

/** dist/ as the image's build stage leaves it: the bundle, without a local compile cache. */
function bareDist(into: string): void {
  cpSync(resolve(import.meta.dirname, '..', '..', 'dist'), join(into, 'dist'), { recursive: true, filter: (src) => !src.includes('.compile-cache') });
}

describe('the bundle is self-contained', () => {
  let cp: ControlPlane;
  let dir: string;

  before(async () => {
    cp = await ControlPlane.start();
    await createPods(cp, 'default', 3);
    dir = mkdtempSync(join(tmpdir(), 'podcount-image-'));
    bareDist(dir);
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await cp?.stop();
  });

  test('dist/ alone serves counts through client-node and CloudEvents', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, startArgs(), { cwd: dir, env: { PATH: process.env['PATH'], HOME: dir, PORT: String(port), KUBECONFIG: cp.kubeconfigPath, NODE_ENV: 'production', ...mutantEnv() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    try {
      const res = await waitFor(() => fetch(`http://127.0.0.1:${port}/`).catch(() => undefined), { timeoutMs: 10_000, what: () => `an answer: ${stderr}` });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await res.json() as { count: number }).count, 3);
      const event = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'ce-specversion': '1.0', 'ce-id': 'b-1', 'ce-source': '/bundle', 'ce-type': 'dev.podcount.count.requested' } });
      assert.equal(event.status, 200);
      assert.equal(event.headers.get('ce-type'), 'dev.podcount.pods.counted');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    assert.equal(stderr, '');
  });

  test('with PODCOUNT_AUTH=none nothing of caller authorization is loaded: it is a chunk of its own, imported only when on', () => {
    const reviews = ['/apis/authentication.k8s.io/v1/tokenreviews', '/apis/authorization.k8s.io/v1/subjectaccessreviews'];
    const chunks = readdirSync(join(DIST, 'chunks')).map((f) => join(DIST, 'chunks', f));
    const [authChunk, ...others] = chunks.filter((f) => reviews.every((r) => readFileSync(f, 'utf8').includes(r)) && /caller-auth/.test(f));
    assert.ok(authChunk, 'a caller-auth chunk');
    assert.deepEqual(others, []);
    // What every cold start loads: main.mjs, its instance chunk and index.mjs (both imported by main), and their static imports.
    const instance = chunks.find((f) => /\/instance-[^/]+\.mjs$/.test(f))!;
    const startPath = new Set([...staticClosure(join(DIST, 'main.mjs')), ...staticClosure(instance), ...staticClosure(join(DIST, 'index.mjs'))]);
    assert.ok(!startPath.has(authChunk), 'not on the start path');
    for (const file of startPath) for (const r of reviews) assert.ok(!readFileSync(file, 'utf8').includes(r), `${file} holds ${r}`);
    assert.match(readFileSync(join(DIST, 'index.mjs'), 'utf8'), new RegExp(`import\\("\\./chunks/${authChunk.split('/').pop()!.replace('.', '\\.')}"\\)`), 'imported dynamically by the function');
  });

  test('breakdowns (groupBy) are a chunk of their own, imported only when a breakdown is asked for', () => {
    const chunks = readdirSync(join(DIST, 'chunks')).map((f) => join(DIST, 'chunks', f));
    const breakdown = chunks.filter((f) => /\/breakdown-[^/]+\.mjs$/.test(f));
    assert.equal(breakdown.length, 1, 'one breakdown chunk');
    const instance = chunks.find((f) => /\/instance-[^/]+\.mjs$/.test(f))!;
    const startPath = new Set([...staticClosure(join(DIST, 'main.mjs')), ...staticClosure(instance), ...staticClosure(join(DIST, 'index.mjs'))]);
    assert.ok(!startPath.has(breakdown[0]!), 'not on the start path');
    // What only a breakdown does: the pinned phase counts and the Table's Node column.
    for (const file of startPath) assert.ok(!readFileSync(file, 'utf8').includes('status.phase!='), `${file} holds the phase breakdown`);
    assert.ok(readFileSync(breakdown[0]!, 'utf8').includes('status.phase!='));
  });

  test('the CloudEvents attribute checks are loaded with the first event, not at start', () => {
    const chunks = readdirSync(join(DIST, 'chunks')).map((f) => join(DIST, 'chunks', f));
    const marker = 'attribute names are lowercase letters a-z and digits only';
    const holding = [join(DIST, 'main.mjs'), join(DIST, 'index.mjs'), ...chunks].filter((f) => readFileSync(f, 'utf8').includes(marker));
    assert.equal(holding.length, 1, holding.join());
    const [checks] = holding as [string];
    assert.match(checks, /\/chunks\/event-attributes-[^/]+\.mjs$/);
    const instance = chunks.find((f) => /\/instance-[^/]+\.mjs$/.test(f))!;
    const startPath = new Set([...staticClosure(join(DIST, 'main.mjs')), ...staticClosure(instance), ...staticClosure(join(DIST, 'index.mjs'))]);
    assert.ok(!startPath.has(checks), 'not on the start path');
    const importers = [...startPath].filter((f) => readFileSync(f, 'utf8').includes(`import("./${f.includes('/chunks/') ? '' : 'chunks/'}${checks.split('/').pop()!}")`));
    assert.ok(importers.length > 0, 'imported dynamically from the start path');
  });

  test('the metrics exposition (prom-client) is a chunk of its own, off the start path, imported by the first GET /metrics only', async () => {
    const chunks = readdirSync(join(DIST, 'chunks')).map((f) => join(DIST, 'chunks', f));
    // prom-client's own marker: the text format's content type, which only the exposition uses.
    const marker = 'text/plain; version=0.0.4';
    const [metricsChunk, ...others] = chunks.filter((f) => readFileSync(f, 'utf8').includes(marker));
    assert.ok(metricsChunk && /\/metrics-text-[^/]+\.mjs$/.test(metricsChunk), `a metrics-text chunk: ${metricsChunk}`);
    assert.deepEqual(others, []);
    const instance = chunks.find((f) => /\/instance-[^/]+\.mjs$/.test(f))!;
    const startPath = new Set([...staticClosure(join(DIST, 'main.mjs')), ...staticClosure(instance), ...staticClosure(join(DIST, 'index.mjs'))]);
    assert.ok(!startPath.has(metricsChunk), 'not on the start path');
    for (const file of startPath) assert.ok(!readFileSync(file, 'utf8').includes(marker), `${file} holds the exposition`);
    assert.match(readFileSync(join(DIST, 'index.mjs'), 'utf8'), new RegExp(`import\\("\\./chunks/${metricsChunk.split('/').pop()!.replace('.', '\\.')}"\\)`), 'imported dynamically by the handler');

    // And at run time, from the bare dist/: Node's module loading trace shows the chunk loaded by the first scrape, not before.
    const port = await freePort();
    const child = spawn(process.execPath, startArgs(), { cwd: dir, env: { PATH: process.env['PATH'], HOME: dir, PORT: String(port), KUBECONFIG: cp.kubeconfigPath, NODE_ENV: 'production', NODE_DEBUG: 'esm' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let trace = '';
    child.stderr.on('data', (c: Buffer) => { trace += c.toString(); });
    child.stdout.on('data', () => {});
    const loaded = () => trace.includes(metricsChunk.split('/').pop()!);
    try {
      const res = await waitFor(() => fetch(`http://127.0.0.1:${port}/`).catch(() => undefined), { timeoutMs: 10_000, what: () => `an answer: ${trace.slice(-2000)}` });
      assert.equal(res.status, 200);
      await res.text();
      assert.ok(trace.includes('index.mjs'), `the trace names loaded modules: ${trace.slice(0, 500)}`);
      assert.ok(!loaded(), 'a start and a count do not load the metrics chunk');
      const scrape = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(scrape.status, 200);
      assert.match(await scrape.text(), /^podcount_invocations_total\{status="200",strategy="remainingItemCount"\} 1$/m);
      assert.ok(loaded(), 'the first scrape loads it');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  test('the image\'s code cache: written by the runtime user at build time, accepted at start', async () => {
    // As the Dockerfile does: an empty, writable .compile-cache in a bare dist/, then the start
    // command with --prepare-cache, as the user that will run it.
    const image = mkdtempSync(join(tmpdir(), 'podcount-image-cache-'));
    try {
      bareDist(image);
      const cache = join(image, 'dist', '.compile-cache');
      mkdirSync(cache);
      const env = { PATH: process.env['PATH'], HOME: image, NODE_ENV: 'production', ...mutantEnv() };
      // SIGKILL at the timeout: SIGTERM would drain a server that should never have started and exit 0.
      const prepared = spawnSync(process.execPath, [...startArgs(), '--prepare-cache'], { cwd: image, env, encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
      assert.equal(prepared.status, 0, prepared.stderr);
      // One folder, named after Node, the CPU and the uid that wrote it: why the Dockerfile writes
      // it after `USER 65532:65532` (written as root, it would be invisible to uid 65532).
      const folders = readdirSync(cache);
      assert.equal(folders.length, 1, folders.join());
      assert.match(folders[0]!, new RegExp(`^v${process.versions.node}-${process.arch}-[0-9a-f]+-${process.getuid!()}$`));
      assert.ok(readdirSync(join(cache, folders[0]!)).length >= 2, 'entries for the bundle\'s modules');
      chmodSync(join(cache, folders[0]!), 0o555); // read-only at run time (readOnlyRootFilesystem)
      chmodSync(cache, 0o555);

      const port = await freePort();
      // Node's own compile-cache trace says which modules were served from the cache.
      const child = spawn(process.execPath, startArgs(), { cwd: image, env: { ...env, PORT: String(port), KUBECONFIG: cp.kubeconfigPath, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let trace = '';
      child.stderr.on('data', (c: Buffer) => { trace += c.toString(); });
      child.stdout.on('data', () => {});
      try {
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200,
          { timeoutMs: 10_000, what: () => `/healthz: ${trace.slice(-2000)}` });
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      assert.match(trace, /V8 code cache for ESM file:\/\/\S+\/dist\/index\.mjs was accepted/);
      assert.doesNotMatch(trace, /Cannot create cache directory|was rejected/);
      assert.deepEqual(readdirSync(cache), folders, 'nothing new written at run time');
    } finally {
      chmodSync(join(image, 'dist', '.compile-cache'), 0o755);
      rmSync(image, { recursive: true, force: true });
    }
  });

  test('an image build whose code cache cannot be prepared fails, naming the folder and Node\'s reason', () => {
    const image = mkdtempSync(join(tmpdir(), 'podcount-image-nocache-'));
    try {
      bareDist(image);
      writeFileSync(join(image, 'not-a-folder'), '');
      const prepare = (env: Record<string, string>) => spawnSync(process.execPath, [...startArgs(), '--prepare-cache'], {
        cwd: image, env: { PATH: process.env['PATH'], HOME: image, NODE_ENV: 'production', ...mutantEnv(), ...env }, encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL',
      });
      const unwritable = join(image, 'not-a-folder', 'cache');
      const failed = prepare({ PODCOUNT_COMPILE_CACHE: unwritable });
      assert.equal(failed.status, 1, failed.stderr);
      assert.equal(failed.stderr, `podcount: cannot prepare the compile cache in ${unwritable}: Cannot create cache directory: not a directory\n`);
      const disabled = prepare({ NODE_DISABLE_COMPILE_CACHE: '1' });
      assert.equal(disabled.status, 1, disabled.stderr);
      assert.equal(disabled.stderr, `podcount: cannot prepare the compile cache in ${join(image, 'dist', '.compile-cache')}: Disabled by NODE_DISABLE_COMPILE_CACHE\n`);
    } finally {
      rmSync(image, { recursive: true, force: true });
    }
  });
});
