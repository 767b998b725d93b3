import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { readBody } from '../../function/body.ts';
import { PodcountError } from '../../function/errors.ts';

/** A request body stream with these headers; the test writes the chunks. */
function request(headers: Record<string, string> = {}): PassThrough & IncomingMessage {
  return Object.assign(new PassThrough(), { headers }) as unknown as PassThrough & IncomingMessage;
}
const is = (status: number, code: string) => (err: unknown) => err instanceof PodcountError && err.status === status && err.code === code;

test('a body up to the limit is read whole, in chunks', async () => {
  const req = request();
  const body = readBody(req, 6);
  req.write('abc');
  req.end('def');
  assert.equal((await body).toString(), 'abcdef');
});

test('a streamed body past the limit is 413 at the chunk that crosses it, and the rest is discarded', async () => {
  const req = request();
  const body = readBody(req, 5);
  req.write('abc');
  req.write('def');
  await assert.rejects(body, is(413, 'body_too_large'));
  assert.equal(req.isPaused(), false, 'resumed: the rest drains instead of stalling the socket');
  assert.equal(req.listenerCount('data'), 0, 'podcount stops reading the body at the limit');
  for (let i = 0; i < 64; i++) assert.equal(req.write(Buffer.alloc(1024)), true, 'the rest is accepted as it comes, not held back');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(req.readableLength, 0, 'the rest is discarded, not buffered');
});

test('a declared Content-Length past the limit is 413 before anything is read; one at the limit is read', async () => {
  await assert.rejects(readBody(request({ 'content-length': '6' }), 5), is(413, 'body_too_large'));
  const req = request({ 'content-length': '5' });
  const body = readBody(req, 5);
  req.end('12345');
  assert.equal((await body).toString(), '12345');
});

test('a body the functions-framework already read is taken as is, within the limit', async () => {
  const raw = (rawBody: Buffer) => Object.assign(request(), { rawBody });
  assert.equal((await readBody(raw(Buffer.from('12345')), 5)).toString(), '12345');
  await assert.rejects(readBody(raw(Buffer.from('123456')), 5), is(413, 'body_too_large'));
});

test('an already-ended request has an empty body; a broken stream is a 400 unreadable body', async () => {
  const ended = request();
  Object.defineProperty(ended, 'readableEnded', { value: true });
  assert.equal((await readBody(ended, 5)).length, 0);
  const broken = request();
  const body = readBody(broken, 5);
  broken.destroy(new Error('socket hang up'));
  await assert.rejects(body, (err: unknown) => err instanceof PodcountError && err.status === 400 && err.code === 'bad_request' && /socket hang up/.test(err.message));
});
