// The one way tests and the harness wait for something: call `check` until it returns a value
// (anything but undefined or false), pausing between calls, or fail after timeoutMs with a message
// naming what was awaited. Errors thrown by `check` end the wait at once.
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs: number;
  /** The pause between checks (default 50 ms). */
  intervalMs?: number;
  /** What is awaited, for the timeout message; a function is called then, to show the last state seen. */
  what: string | (() => string);
}

export class WaitTimeout extends Error {}

export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, o: WaitOptions): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) throw new WaitTimeout(`waited ${o.timeoutMs} ms for ${typeof o.what === 'string' ? o.what : o.what()}`);
    await sleep(o.intervalMs ?? 50);
  }
}
