// A JSON-format event as an HTTP request in either content mode (CloudEvents HTTP binding 1.0):
// structured, the event itself as the body; binary, each attribute a ce-* header, datacontenttype
// the Content-Type, the data the body (data_base64 decoded). Sent with node:http, which sends
// headers exactly as given (fetch would add a Content-Type to a body that has none).
import { request } from 'node:http';

export type ContentMode = 'binary' | 'structured';

export interface HttpMessage {
  headers: Record<string, string>;
  body: Buffer;
}

export function toStructured(event: Record<string, unknown>, extraHeaders: Record<string, string> = {}): HttpMessage {
  return { headers: { ...extraHeaders, 'content-type': 'application/cloudevents+json; charset=utf-8' }, body: Buffer.from(JSON.stringify(event)) };
}

export function toBinary(event: Record<string, unknown>, extraHeaders: Record<string, string> = {}): HttpMessage {
  const headers: Record<string, string> = { ...extraHeaders };
  const { data, data_base64: data64, datacontenttype, ...attributes } = event;
  for (const [name, value] of Object.entries(attributes)) {
    // A header cannot be null (left out) and holds text (numbers, objects as their JSON; no surrounding blanks).
    if (value !== null && value !== undefined) headers[`ce-${name}`] = typeof value === 'string' ? value.trim() : JSON.stringify(value);
  }
  if (datacontenttype !== null && datacontenttype !== undefined) headers['content-type'] = String(datacontenttype);
  let body = Buffer.alloc(0);
  if (data !== undefined && data !== null) body = Buffer.from(typeof data === 'string' ? data : JSON.stringify(data));
  // One body: data_base64 is the body, unless data already is; then it can only be a header.
  if (typeof data64 === 'string') {
    if (data === undefined || data === null) body = Buffer.from(data64, 'base64');
    else headers['ce-data_base64'] = data64;
  }
  return { headers, body };
}

export function toMode(mode: ContentMode, event: Record<string, unknown>, extraHeaders: Record<string, string> = {}): HttpMessage {
  return mode === 'binary' ? toBinary(event, extraHeaders) : toStructured(event, extraHeaders);
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** POSTs a message to 127.0.0.1:port/ on a fresh connection. */
export function post(port: number, message: HttpMessage): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { ...message.headers, 'content-length': String(message.body.length) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)])),
        text: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(message.body);
  });
}
