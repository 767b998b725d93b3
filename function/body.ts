// Reads a request body up to a small limit. functions-framework would buffer up to 1 GiB before
// the handler runs; podcount's own entry reads the stream itself and stops at the limit (413).
import type { IncomingMessage } from 'node:http';
import { bodyTooLarge, unreadableBody } from './errors.ts';

export function readBody(req: IncomingMessage & { rawBody?: Buffer }, limit: number): Promise<Buffer> {
  const tooLarge = () => bodyTooLarge(limit);
  // Under the functions-framework the body was already read into rawBody.
  if (req.rawBody !== undefined) return req.rawBody.length > limit ? Promise.reject(tooLarge()) : Promise.resolve(req.rawBody);
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.reject(tooLarge());
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading; the stream stays flowing without a listener, so the rest is discarded
        // unbuffered (no resume() needed) and the response closes the connection.
        req.off('data', onData);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', (err) => reject(unreadableBody(err)));
  });
}
