// Polls a condition until it holds or a deadline passes; the error names what was awaited.
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitUntil(check: () => boolean | Promise<boolean>, o: { timeoutMs: number; what: string; intervalMs?: number; detail?: () => string | Promise<string> }): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (Date.now() > deadline) {
      const detail = o.detail ? `\n${await Promise.resolve().then(o.detail).catch((e: unknown) => String(e))}` : '';
      throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${o.what}${detail}`);
    }
    await sleep(o.intervalMs ?? 100);
  }
}
