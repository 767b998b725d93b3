// The last line of defence against leftovers: every harness process group and temp folder is
// registered here while it exists. If the Node process ends without stop() (an uncaught error,
// process.exit, Ctrl-C, the test runner's SIGTERM), the groups are SIGKILLed and the folders
// removed synchronously. Servers also get SIGKILL from the kernel if Node itself is SIGKILLed
// (see process.ts: setpriv --pdeathsig).
import { rmSync } from 'node:fs';

const groups = new Set<number>();
const dirs = new Set<string>();
let installed = false;

export function trackProcessGroup(pgid: number): () => void {
  install();
  groups.add(pgid);
  return () => groups.delete(pgid);
}

export function trackDir(dir: string): () => void {
  install();
  dirs.add(dir);
  return () => dirs.delete(dir);
}

/** Kills every tracked group and removes every tracked folder, now. */
export function cleanUpNow(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  groups.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // A program with its own handler (npm run dev) owns its shutdown and calls stop(); the
  // 'exit' hook still covers it. Otherwise: clean up, then die of the signal as Node would.
  if (process.listenerCount(signal) > 1) return;
  cleanUpNow();
  process.removeListener(signal, onSignal);
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanUpNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
}
