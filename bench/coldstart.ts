// Cold start: spawn -> first correct answer, for podcount's production start (`node dist/main.mjs`,
// what the image and `npm start` run), against the Node floor (a bare node:http server's spawn ->
// first response) on the same machine, in the same run, interleaved round by round. GET /metrics
// is lazy (its exposition, prom-client, loads on the first scrape): a row preloads that chunk with
// `node --import`, which is what loading it on the start path would cost.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ControlPlane } from '../test/support/controlplane.ts';
import { startArgs } from '../test/support/function-process.ts';
import { setUpServiceAccount } from '../test/support/identity.ts';
import { createPods } from '../test/support/pods.ts';
import { freePort } from '../test/support/ports.ts';
import { median, percentile, round, saveResult, table, timedGet } from './lib.ts';

const ROOT = resolve(import.meta.dirname, '..');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 15);

interface Row { name: string; argv: string[]; env: Record<string, string>; path: string; ok: (status: number, body: string) => boolean; fresh?: () => Record<string, string> }

async function spawnToFirstAnswer(row: Row): Promise<number> {
  const port = await freePort();
  const env = { PATH: process.env['PATH'] ?? '', HOME: tmpdir(), NODE_ENV: 'production', PORT: String(port), ...row.env, ...row.fresh?.() };
  const started = performance.now();
  const child = spawn(process.execPath, row.argv, { cwd: ROOT, env, stdio: 'ignore' });
  try {
    for (;;) {
      const res = await timedGet(port, row.path, false).catch(() => undefined);
      if (res && row.ok(res.status, res.body)) return performance.now() - started;
      if (child.exitCode !== null) throw new Error(`${row.name} exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
}

export async function coldStart(): Promise<void> {
  const cp = await ControlPlane.start();
  const scratch = mkdtempSync(join(tmpdir(), 'podcount-bench-cold-'));
  try {
    const sa = await setUpServiceAccount(cp, 'podcount', 'podcount', 'cluster');
    await createPods(cp, 'default', 32);
    // The floor is the fastest bare server: CommonJS. Its ESM twin is slower (an ESM import of
    // node:http loads Node's bundled undici), so it is shown but not used as the reference.
    const bare = join(scratch, 'bare.cjs');
    writeFileSync(bare, "require('node:http').createServer((req, res) => res.end('ok')).listen(process.env.PORT);\n");
    const bareEsm = join(scratch, 'bare.mjs');
    writeFileSync(bareEsm, "import http from 'node:http';\nhttp.createServer((req, res) => res.end('ok')).listen(process.env.PORT);\n");
    // The image prebuilds V8's code cache (Dockerfile); do the same for dist/ here.
    const metricsChunk = readdirSync(join(ROOT, 'dist', 'chunks')).find((f) => /^metrics-text-.+\.mjs$/.test(f));
    if (!metricsChunk) throw new Error('no metrics-text chunk in dist/chunks: run npm run build');
    const [nodeFlags, script] = [startArgs().slice(0, -1), startArgs().at(-1)!];
    const eager = ['--import', `./dist/chunks/${metricsChunk}`];
    // The eager row's chunk gets its code cache too, as an image shipping that design would.
    for (const preload of [[], eager]) {
      await new Promise((r) => spawn(process.execPath, [...preload, 'dist/main.mjs', '--prepare-cache'], { cwd: ROOT, stdio: 'ignore', env: { PATH: process.env['PATH'] ?? '', HOME: scratch } }).once('exit', r));
    }
    const counted = (status: number, body: string) => status === 200 && (JSON.parse(body) as { count?: number }).count === 32;
    const rows: Row[] = [
      { name: 'node:http floor (spawn -> first response)', argv: [bare], env: {}, path: '/', ok: (s) => s === 200 },
      { name: 'node:http, as an ES module', argv: [bareEsm], env: {}, path: '/', ok: (s) => s === 200 },
      { name: 'podcount: npm start (spawn -> first correct count)', argv: startArgs(), env: sa.env, path: '/', ok: counted },
      { name: 'podcount with /metrics eager: its exposition (prom-client) loaded at start', argv: [...nodeFlags, ...eager, script], env: sa.env, path: '/', ok: counted },
      { name: 'podcount without the prebuilt code cache', argv: startArgs(), env: sa.env, path: '/', ok: counted, fresh: () => ({ PODCOUNT_COMPILE_CACHE: mkdtempSync(join(scratch, 'cc-')) }) },
      { name: 'podcount: /healthz only (process ready, no API call)', argv: startArgs(), env: sa.env, path: '/healthz', ok: (s) => s === 200 },
      { name: 'same function under the functions-framework CLI', argv: ['node_modules/@google-cloud/functions-framework/build/src/main.js', '--target=podcount', '--source=dist/index.mjs'], env: sa.env, path: '/', ok: counted },
    ];
    const times = new Map<string, number[]>(rows.map((r) => [r.name, []]));
    for (const row of rows) await spawnToFirstAnswer(row); // warm the page cache
    for (let i = 0; i < ROUNDS; i++) for (const row of rows) times.get(row.name)!.push(await spawnToFirstAnswer(row));
    const floor = median(times.get(rows[0]!.name)!);
    const results = rows.map((r) => {
      const t = times.get(r.name)!;
      return { name: r.name, medianMs: round(median(t)), p90Ms: round(percentile(t, 90)), ratio: round(median(t) / floor, 2) };
    });
    table(`Cold start, median of ${ROUNDS} interleaved rounds (ms)`, ['start', 'median', 'p90', 'x floor'], results.map((r) => [r.name, r.medianMs, r.p90Ms, r.ratio]));
    saveResult('coldstart', { rounds: ROUNDS, results });
    sa.cleanup();
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await cp.stop();
  }
}

if (import.meta.main) await coldStart();
