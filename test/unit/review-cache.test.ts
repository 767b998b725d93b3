// The review cache with a fake clock: bounded in time (from when a review was sent, shortened by
// the answer's own limit, never lengthened) and in size (least recently used first), sharing a
// review in flight, and never keeping a failure.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReviewCache } from '../../function/review-cache.ts';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

/** A review whose answer the test gives, counting how often it was asked. */
function reviewer<V>() {
  const pending: Array<{ resolve: (v: V) => void; reject: (e: unknown) => void }> = [];
  return {
    pending,
    asked: () => pending.length,
    review: () => new Promise<V>((resolve, reject) => { pending.push({ resolve, reject }); }),
  };
}

/** A cache on a fake clock, and a review the test answers. */
function setUp(o: { ttlMs?: number; maxEntries?: number } = {}) {
  const c = clock();
  return { c, cache: new ReviewCache<string>({ ttlMs: o.ttlMs ?? 10_000, maxEntries: o.maxEntries ?? 10, now: c.now }), r: reviewer<string>() };
}

test('an answer is reused until ttl after its review was sent, then asked again', async () => {
  const { c, cache } = setUp();
  let asked = 0;
  const review = async () => `answer ${++asked}`;
  assert.equal(await cache.get('k', review), 'answer 1');
  c.advance(9_999);
  assert.equal(await cache.get('k', review), 'answer 1');
  c.advance(1);
  assert.equal(await cache.get('k', review), 'answer 2', 'expired at exactly ttl');
  assert.equal(cache.reviews, 2);
});

test('the ttl counts from when the review was sent, not from when it answered', async () => {
  const { c, cache, r } = setUp();
  const first = cache.get('k', r.review);
  c.advance(8_000); // a slow review
  r.pending[0]!.resolve('slow');
  assert.equal(await first, 'slow');
  c.advance(2_000);
  void cache.get('k', r.review);
  assert.equal(r.asked(), 2, 'asked again 10 s after the first was sent');
});

test('an answer\'s own limit (a token\'s expiry) shortens its life, never lengthens it', async () => {
  const { c, cache } = setUp();
  let asked = 0;
  const review = async () => `a${++asked}`;
  await cache.get('soon', review, () => c.now() + 3_000);
  c.advance(3_000);
  assert.equal(await cache.get('soon', review, () => c.now() + 3_000), 'a2', 'gone at the limit');
  await cache.get('late', review, () => c.now() + 60_000);
  c.advance(10_000);
  assert.equal(await cache.get('late', review), 'a4', 'the ttl still bounds it');
  assert.equal(await cache.get('past', review, () => c.now() - 1), 'a5');
  assert.equal(await cache.get('past', review, () => c.now() - 1), 'a6', 'an answer already past its limit is not kept');
});

test('callers asking while a review is in flight share it; a failed review is not kept', async () => {
  const { cache, r } = setUp();
  const all = Array.from({ length: 200 }, () => cache.get('k', r.review));
  assert.equal(r.asked(), 1);
  r.pending[0]!.reject(new Error('API server down'));
  for (const p of all) await assert.rejects(p, /API server down/);
  const again = cache.get('k', r.review);
  assert.equal(r.asked(), 2, 'the next caller asks again');
  r.pending[1]!.resolve('up');
  assert.equal(await again, 'up');
  assert.equal(await cache.get('k', r.review), 'up');
  assert.equal(r.asked(), 2);
});

test('with ttl 0 only a review in flight is shared', async () => {
  const { cache, r } = setUp({ ttlMs: 0 });
  const a = cache.get('k', r.review);
  const b = cache.get('k', r.review);
  assert.equal(r.asked(), 1);
  r.pending[0]!.resolve('x');
  assert.deepEqual([await a, await b], ['x', 'x']);
  assert.equal(cache.size, 0);
  void cache.get('k', r.review);
  assert.equal(r.asked(), 2);
});

test('bounded in size: the least recently used answer goes first', async () => {
  const { cache } = setUp({ maxEntries: 3 });
  let asked = 0;
  const review = async () => `a${++asked}`;
  for (const k of ['a', 'b', 'c']) await cache.get(k, review);
  await cache.get('a', review); // a is now the most recent
  await cache.get('d', review); // evicts b
  assert.deepEqual(cache.keys(), ['c', 'a', 'd']);
  assert.equal(cache.size, 3);
  const before = asked;
  await cache.get('a', review);
  assert.equal(asked, before, 'a was kept');
  await cache.get('b', review);
  assert.equal(asked, before + 1, 'b was dropped and asked again');
  for (let i = 0; i < 1000; i++) await cache.get(`k${i}`, review);
  assert.equal(cache.size, 3, 'never more than maxEntries');
});

test('a review that throws before returning a promise is a failure like any other', async () => {
  const cache = new ReviewCache<string>({ ttlMs: 10_000, maxEntries: 3 });
  await assert.rejects(cache.get('k', () => { throw new Error('bug'); }), /bug/);
  assert.equal(cache.size, 0);
});

test('peek hands out a live answer without waiting, and nothing in flight or expired', async () => {
  const { c, cache, r } = setUp();
  const pending = cache.get('k', r.review);
  assert.equal(cache.peek('k'), undefined, 'in flight');
  r.pending[0]!.resolve('yes');
  await pending;
  assert.equal(cache.peek('k'), 'yes');
  c.advance(10_000);
  assert.equal(cache.peek('k'), undefined, 'expired');
  assert.equal(cache.peek('other'), undefined);
});

test('a peek counts as a use: the answer peeked at is not the least recently used', async () => {
  const c = new ReviewCache<string>({ ttlMs: 60_000, maxEntries: 2 });
  await c.get('a', async () => 'A');
  await c.get('b', async () => 'B');
  assert.equal(c.peek('a'), 'A');
  await c.get('c', async () => 'C');
  assert.deepEqual(c.keys(), ['a', 'c'], 'b, not a, was dropped');
});

test('a failed review evicted meanwhile never drops the newer review of the same question', async () => {
  const c = new ReviewCache<string>({ ttlMs: 60_000, maxEntries: 1 });
  const r = reviewer<string>();
  const first = c.get('k', r.review);
  await c.get('other', async () => 'O'); // evicts k's review in flight
  const second = c.get('k', r.review);
  r.pending[0]!.reject(new Error('first failed'));
  await assert.rejects(first, /first failed/);
  const third = c.get('k', r.review);
  assert.equal(r.asked(), 2, 'the third caller shares the second review');
  r.pending[1]!.resolve('K');
  assert.deepEqual(await Promise.all([second, third]), ['K', 'K']);
});
