// Runs the built function exactly as the container does (`node dist/main.mjs`, the Dockerfile's
// CMD and `npm start`), or under the functions-framework CLI, as a child process on a free
// loopback port. Its JSON log lines are collected so tests can assert on them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from './poll.ts';
import { freePort } from './ports.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

/**
 * Node's arguments in `npm start` (`node <flags> dist/main.mjs`), which the image's CMD repeats:
 * podcount is always started exactly that way, flags included.
 */
export function startArgs(): string[] {
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start'] ?? '';
  const [node, ...args] = start.trim().split(/\s+/);
  if (node !== 'node' || !args.includes('dist/main.mjs')) throw new Error(`npm start is not "node ... dist/main.mjs": ${start}`);
  return args;
}

/**
 * Under mutation testing (npm run mutate) dist/ is built from the instrumented sources: a spawned
 * function must run the mutant the test runner activated. Empty otherwise.
 */
export function mutantEnv(): Record<string, string> {
  const mutant = process.env['__STRYKER_ACTIVE_MUTANT__'];
  return mutant === undefined ? {} : { __STRYKER_ACTIVE_MUTANT__: mutant };
}

export type Entry = 'main' | 'functions-framework';

export interface StartOptions {
  env?: Record<string, string | undefined>;
  entry?: Entry;
  /** Wait for /healthz before returning (default true). */
  waitReady?: boolean;
}

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export class FunctionProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  readonly logs: LogLine[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #home: string;

  private constructor(child: ChildProcess, port: number, home: string) {
    this.child = child;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.#home = home;
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // Not a log line (the framework's banner): kept in stdout only.
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk; });
    this.exited = new Promise((done) => child.once('exit', (code, signal) => {
      rmSync(this.#home, { recursive: true, force: true });
      done({ code, signal });
    }));
  }

  static async start(opts: StartOptions = {}): Promise<FunctionProcess> {
    const port = opts.env?.['PORT'] ? Number(opts.env['PORT']) : await freePort();
    // A HOME without a kubeconfig: only what the test passes decides how podcount connects.
    const home = mkdtempSync(join(tmpdir(), 'podcount-fn-'));
    const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', HOME: home, NODE_ENV: 'production', PORT: String(port), ...mutantEnv() };
    for (const [k, v] of Object.entries(opts.env ?? {})) if (v !== undefined) env[k] = v;
    const args = opts.entry === 'functions-framework'
      ? [join(ROOT, 'node_modules/@google-cloud/functions-framework/build/src/main.js'), '--target=podcount', `--source=${join(ROOT, 'dist/index.mjs')}`, `--port=${port}`]
      : startArgs();
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const fn = new FunctionProcess(child, port, home);
    if (opts.waitReady !== false) {
      try {
        await fn.waitReady();
      } catch (err) {
        await fn.stop('SIGKILL');
        throw err;
      }
    }
    return fn;
  }

  async waitReady(timeoutMs = 10_000): Promise<void> {
    let exited = false;
    void this.exited.then(() => { exited = true; });
    await waitFor(async () => {
      if (exited) throw new Error(`podcount exited before it was ready:\n${this.stderr}${this.stdout}`);
      // Not listening yet: a refused connection.
      return (await fetch(`${this.url}/healthz`).catch(() => undefined))?.status === 200;
    }, { timeoutMs, intervalMs: 20, what: () => `podcount to be ready:\n${this.stderr}${this.stdout}` });
  }

  /** Resolves with the first log line matching, waiting for it if needed. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return waitFor(() => this.logs.find(match), { timeoutMs, intervalMs: 20, what: () => `a matching log line; got:\n${this.stdout}` });
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.url}${path}`, { headers });
  }

  post(path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.url}${path}`, { method: 'POST', headers, body });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

