// A server process of the control plane: spawned in its own process group with output to a log
// file, polled until ready, stopped with SIGTERM then SIGKILL, and always waited for, so no
// test leaves a process behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export class ServerProcess {
  readonly name: string;
  readonly logFile: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(name: string, logFile: string) {
    this.name = name;
    this.logFile = logFile;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts the binary and resolves once `ready()` is true; fails with the log's tail otherwise. */
  async start(binary: string, args: string[], ready: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const out = openSync(this.logFile, 'a');
    const child = spawn(binary, args, { stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${this.name} exited during start (code ${child.exitCode}):\n${this.tail()}`);
      if (await Promise.race([ready().catch(() => false), spawnError])) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.stop();
    throw new Error(`${this.name} was not ready within ${timeoutMs} ms:\n${this.tail()}`);
  }

  async stop(graceMs = 10_000): Promise<void> {
    const child = this.#child;
    if (!child || !this.running || child.pid === undefined) return this.#exited;
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal); // the whole process group
      } catch {
        // Already gone.
      }
    };
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  tail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/** Every harness process, so an interrupted run (Ctrl-C in npm run dev) still cleans up. */
export const liveProcesses = new Set<ServerProcess>();
