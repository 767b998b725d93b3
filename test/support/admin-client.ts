// The admin's HTTP client for the test control plane: one keep-alive agent trusting the run's CA,
// a bearer token from the token-auth file (system:masters). Fast enough to create 100k pods.
import https from 'node:https';

export interface AdminResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export interface AdminRequest {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export class AdminClient {
  readonly #agent: https.Agent;
  readonly #base: string;
  readonly #token: string;

  constructor(base: string, caPem: string, token: string, maxSockets = 64) {
    this.#base = base;
    this.#token = token;
    this.#agent = new https.Agent({ keepAlive: true, maxSockets, ca: caPem });
  }

  request(path: string, init: AdminRequest = {}): Promise<AdminResponse> {
    const body = init.body === undefined ? undefined : Buffer.from(typeof init.body === 'string' ? init.body : JSON.stringify(init.body));
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}), ...init.headers };
    if (body) headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(path, this.#base), { method: init.method ?? 'GET', headers, agent: this.#agent, timeout: 60_000 }, (res) => {
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
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`admin request ${path} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Like request, but throws with the server's message unless the status is one of `ok`. */
  async must(path: string, init: AdminRequest = {}, ok: number[] = [200, 201]): Promise<AdminResponse> {
    const res = await this.request(path, init);
    if (!ok.includes(res.status)) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${res.json?.message ?? res.text.slice(0, 500)}`);
    return res;
  }

  close(): void {
    this.#agent.destroy();
  }
}
