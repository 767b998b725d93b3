// A bearer-token HTTP client for the test control plane: one keep-alive agent trusting the run's
// CA. ControlPlane.admin is one (fast enough to create 100k pods); with a ServiceAccount token,
// requestWithToken shows the server's raw answers to that account, bypassing any client library.
import https from 'node:https';

export interface BearerResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, or undefined when it is not JSON (e.g. /metrics, plain-text 429s). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export interface BearerRequest {
  method?: string;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export class BearerClient {
  readonly #agent: https.Agent;
  readonly #base: string;
  readonly #token: string;

  constructor(base: string, caPem: string, token: string, maxSockets = 64) {
    this.#base = base;
    this.#token = token;
    this.#agent = new https.Agent({ keepAlive: true, maxSockets, ca: caPem });
  }

  request(path: string, init: BearerRequest = {}): Promise<BearerResponse> {
    const body = init.body === undefined ? undefined : Buffer.from(typeof init.body === 'string' ? init.body : JSON.stringify(init.body));
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token}`,
      accept: 'application/json',
      // Shows in audit logs, and names the field manager of objects it creates.
      'user-agent': 'podcount-test-harness',
      ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
      ...init.headers,
    };
    const timeoutMs = init.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(path, this.#base), { method: init.method ?? 'GET', headers, agent: this.#agent, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) h.append(k, one);
          }
          resolve({ status: res.statusCode ?? 0, headers: h, text, json });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${init.method ?? 'GET'} ${path} timed out after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Like request, but throws with the server's message unless the status is one of `ok`. */
  async must(path: string, init: BearerRequest = {}, ok: number[] = [200, 201]): Promise<BearerResponse> {
    const res = await this.request(path, init);
    if (!ok.includes(res.status)) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${res.json?.message ?? res.text.slice(0, 500)}`);
    return res;
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** One request with `token`, over a connection of its own (closed after). */
export async function requestWithToken(server: { url: string; caPem: string }, token: string, path: string, init: BearerRequest = {}): Promise<BearerResponse> {
  const client = new BearerClient(server.url, server.caPem, token, 1);
  try {
    return await client.request(path, init);
  } finally {
    client.close();
  }
}
