// Callers whose requests are truly in flight together: N keep-alive connections are opened and
// used once first (as queue-proxy keeps connections open to a Knative pod), then every request is
// written in one synchronous loop, so none trails behind the test's own event loop or a TCP
// handshake. Raw HTTP/1.1 on net sockets (podcount always sends Content-Length).
import net from 'node:net';

export interface RawResponse {
  status: number;
  body: string;
}

/** The next HTTP/1.1 response on a kept-alive socket. */
function response(socket: net.Socket): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let raw = '';
    const onData = (chunk: Buffer) => {
      raw += chunk.toString('utf8');
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(raw.slice(0, end))?.[1] ?? 0);
      if (raw.length < end + 4 + length) return;
      socket.off('data', onData);
      resolve({ status: Number(raw.slice(9, 12)), body: raw.slice(end + 4, end + 4 + length) });
    };
    socket.on('data', onData).once('error', reject);
  });
}

/** `GET path` from `callers` connections at once, each with `headers`; the answers in connection order. */
export async function concurrentRequests(target: { port: number }, path: string, o: { callers?: number; headers?: Record<string, string> | ((i: number) => Record<string, string>) } = {}): Promise<RawResponse[]> {
  const n = o.callers ?? 200;
  const sockets = await Promise.all(Array.from({ length: n }, () => new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect(target.port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  })));
  try {
    await Promise.all(sockets.map((s) => { const r = response(s); s.write('GET /healthz HTTP/1.1\r\nHost: podcount\r\n\r\n'); return r; }));
    const requests = sockets.map((_, i) => {
      const headers = typeof o.headers === 'function' ? o.headers(i) : o.headers ?? {};
      return `GET ${path} HTTP/1.1\r\nHost: podcount\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
    });
    const responses = sockets.map(response);
    sockets.forEach((s, i) => s.write(requests[i]!));
    return await Promise.all(responses);
  } finally {
    for (const s of sockets) s.destroy();
  }
}
