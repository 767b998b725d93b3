import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Coalescer } from '../../function/coalesce.ts';

/** A read whose completion the test controls, recording when it started. */
function controlledReads() {
  const started: number[] = [];
  const finish: Array<(v: number) => void> = [];
  let clock = 0;
  return {
    started,
    tick: () => ++clock,
    read: () => new Promise<number>((resolve) => {
      started.push(clock);
      finish.push(resolve);
    }),
    finish: (i: number, v: number) => finish[i]!(v),
  };
}

/** Lets the coalescer's deferred start (two loop turns) happen. */
const turns = async (n = 3) => { for (let i = 0; i < n; i++) await new Promise((res) => setImmediate(res)); };

test('concurrent identical queries cost at most two reads, and nobody gets a read older than its arrival', async () => {
  const c = new Coalescer<number>();
  const r = controlledReads();
  const first = c.run('q', r.read);
  await turns();
  assert.equal(r.started.length, 1, 'the first read has begun');
  r.tick(); // time passes: the next callers arrive after the first read began
  const later = Array.from({ length: 50 }, () => c.run('q', r.read));
  await turns();
  assert.equal(r.started.length, 1, 'latecomers wait for the next read instead of starting their own');
  r.finish(0, 1);
  assert.equal(await first, 1);
  await turns();
  assert.equal(r.started.length, 2);
  assert.equal(r.started[1], 1, 'the second read started after the latecomers arrived');
  r.finish(1, 2);
  assert.deepEqual(new Set(await Promise.all(later)), new Set([2]));
  assert.equal(c.size, 0, 'no slot is kept once idle');
});

test('callers arriving before a read has begun share it (it is fresh for them too)', async () => {
  const c = new Coalescer<number>();
  let reads = 0;
  const all = Array.from({ length: 20 }, () => c.run('q', async () => ++reads));
  assert.deepEqual(new Set(await Promise.all(all)), new Set([1]));
  assert.equal(reads, 1);
});

test('different queries do not share reads', async () => {
  const c = new Coalescer<string>();
  const a = c.run('a', async () => 'A');
  const b = c.run('b', async () => 'B');
  assert.deepEqual(await Promise.all([a, b]), ['A', 'B']);
});

test('a failed read fails only its own callers; the queued read still runs', async () => {
  const c = new Coalescer<number>();
  let calls = 0;
  let rejectFirst!: (e: Error) => void;
  const first = c.run('q', () => {
    calls += 1;
    return new Promise<number>((_, reject) => { rejectFirst = reject; });
  });
  await turns();
  const second = c.run('q', async () => { calls += 1; return 7; });
  rejectFirst(new Error('boom'));
  await assert.rejects(first, /boom/);
  assert.equal(await second, 7);
  assert.equal(calls, 2);
});

test('a sequential caller always gets a new read', async () => {
  const c = new Coalescer<number>();
  let n = 0;
  assert.equal(await c.run('q', async () => ++n), 1);
  assert.equal(await c.run('q', async () => ++n), 2);
});

test('callers arriving while the queued read is about to start share it', async () => {
  const c = new Coalescer<number>();
  const r = controlledReads();
  const first = c.run('q', r.read);
  await turns();
  const second = c.run('q', r.read); // queued behind the first
  r.finish(0, 1);
  await first;
  await Promise.resolve();
  await Promise.resolve();
  const third = c.run('q', r.read); // the queued read exists but has not gone to the API server yet
  await turns();
  assert.equal(r.started.length, 2, 'the third caller joined the second read');
  r.finish(1, 2);
  assert.deepEqual(await Promise.all([second, third]), [2, 2]);
  assert.equal(c.size, 0);
});
