// A server process of the control plane: spawned in its own process group with its output in a
// log file, polled until ready, stopped with SIGTERM (then SIGKILL) to the whole group, and
// always waited for, so no test leaves a process behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { trackProcessGroup } from './cleanup.ts';
import { STOP_GRACE_MS } from './defaults.ts';
import { waitFor, WaitTimeout } from './poll.ts';

// util-linux's setpriv (Essential on Debian) makes the kernel SIGKILL the server if this Node
// process dies without cleaning up (SIGKILL, OOM): `setpriv` execs the server, keeping its pid.
export const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
});

const POLL_MS = 50;

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
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    const out = openSync(this.logFile, 'a');
    const [cmd, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, args];
    // detached: its own process group, so stop() reaches any helper it forks, and a Ctrl-C in
    // the terminal reaches Node first (which then stops the servers in order).
    const child = spawn(cmd, argv, { stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', resolve);
    });
    if (spawned || child.pid === undefined) throw new Error(`${this.name}: cannot run ${binary}: ${spawned?.message}`);
    this.#child = child;
    const untrack = trackProcessGroup(child.pid);
    this.#exited = new Promise((resolve) => child.once('exit', () => {
      untrack();
      resolve();
    }));
    try {
      await waitFor(async () => {
        if (!this.running) {
          await this.#exited;
          throw new Error(`${this.name} exited during start (${child.signalCode ?? `code ${child.exitCode}`}); log ${this.logFile}:\n${this.tail()}`);
        }
        return ready().catch(() => false);
      }, { timeoutMs, intervalMs: POLL_MS, what: `${this.name} to be ready` });
    } catch (err) {
      if (!(err instanceof WaitTimeout)) throw err;
      const tail = this.tail();
      await this.stop();
      throw new Error(`${this.name} was not ready within ${timeoutMs} ms; log:\n${tail}`);
    }
  }

  /** SIGTERM to the group, SIGKILL after graceMs; resolves once the process has exited. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    const child = this.#child;
    if (!child || !this.running || child.pid === undefined) return this.#exited;
    const pgid = child.pid;
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-pgid, signal);
      } catch {
        // Already gone.
      }
    };
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  tail(lines = 40): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
