// The one connection podcount keeps to the API server: a keep-alive agent built once from the
// resolved TLS material, so a warm instance never pays a TLS handshake per call (client-node 2.x
// builds a new undici Agent for every request: upstream #2893/#2904). It also does what
// client-node does not: re-read the token and retry once on 401, retry an idempotent GET once
// when a kept-alive socket turns out dead (the API server restarted), and keep the Status body.
import type { IncomingHttpHeaders } from 'node:http';
import type { ClusterTarget } from './cluster.ts';
import { fromNetworkError, type ApiFailure } from './errors.ts';
import { http, https } from './node-http.ts';

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The credentials were re-read for this answer: a 401 recovered from (the old token was revoked). */
  credentialsReloaded: boolean;
}

/** What the rest of podcount needs of the API connection (unit tests stub it). */
export interface ApiClient {
  readonly target: ClusterTarget;
  get(path: string, accept: string): Promise<ApiResponse>;
  /** POST of a JSON object (the self-review APIs). */
  post(path: string, body: unknown): Promise<ApiResponse>;
  close(): void;
}

export class KubeApi implements ApiClient {
  readonly target: ClusterTarget;
  readonly #agent: InstanceType<typeof http.Agent>;
  readonly #timeoutMs: number;
  readonly #client: typeof http | typeof https;

  constructor(target: ClusterTarget, timeoutMs: number) {
    this.target = target;
    this.#timeoutMs = timeoutMs;
    const secure = target.server.startsWith('https:');
    this.#client = secure ? https : http;
    this.#agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets: 16, ...target.tls })
      : new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  get(path: string, accept: string): Promise<ApiResponse> {
    return this.#send('GET', path, { accept }, undefined);
  }

  post(path: string, body: unknown): Promise<ApiResponse> {
    const payload = Buffer.from(JSON.stringify(body));
    return this.#send('POST', path, { accept: 'application/json', 'content-type': 'application/json' }, payload);
  }

  close(): void {
    this.#agent.destroy();
  }

  /** Connection failures come out as 503 cluster_unavailable PodcountErrors, mapped here once. */
  async #send(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined): Promise<ApiResponse> {
    try {
      return await this.#sendRecovering(method, path, headers, body);
    } catch (err) {
      throw fromNetworkError(err, this.target.server, this.target.caPath);
    }
  }

  /** Sends again, once each, after a dead kept-alive socket and after a 401 with rotated credentials. */
  async #sendRecovering(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined): Promise<ApiResponse> {
    let response: ApiResponse;
    try {
      response = await this.#sendOnce(method, path, headers, body);
    } catch (err) {
      // A kept-alive socket the server closed (restart, idle timeout) fails at once; a fresh one may not.
      if (!isStaleSocket(err)) throw err;
      response = await this.#sendOnce(method, path, headers, body);
    }
    if (response.status === 401 && (await this.target.credentials.refresh())) {
      response = await this.#sendOnce(method, path, headers, body);
      response.credentialsReloaded = response.status !== 401;
    }
    return response;
  }

  async #sendOnce(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined): Promise<ApiResponse> {
    const authorization = await this.target.credentials.authorization();
    const all: Record<string, string> = { ...headers, 'user-agent': 'podcount' };
    if (authorization) all['authorization'] = authorization;
    // req.end(body) sets Content-Length itself (a body written in one piece is never chunked).
    return new Promise<ApiResponse>((resolve, reject) => {
      const req = this.#client.request(new URL(path, this.target.server), {
        method,
        headers: all,
        agent: this.#agent,
        timeout: this.#timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), credentialsReloaded: false }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`API request timed out after ${this.#timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** A kept-alive socket the server closed: worth one retry on a fresh connection. */
export function isStaleSocket(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

/** Reads a non-2xx answer: a Status object, or plain text (API Priority and Fairness' 429). */
export function failureOf(res: ApiResponse, namespace?: string): ApiFailure {
  const text = res.body.toString('utf8');
  let message = text.slice(0, 300).trim() || `HTTP ${res.status}`;
  let reason: string | undefined;
  let retryAfter = Number(res.headers['retry-after']) || undefined;
  try {
    const status = JSON.parse(text) as { message?: string; reason?: string; details?: { retryAfterSeconds?: number } };
    if (typeof status.message === 'string') message = status.message;
    if (typeof status.reason === 'string') reason = status.reason;
    retryAfter ??= status.details?.retryAfterSeconds;
  } catch {
    // Not JSON: keep the text.
  }
  const failure: ApiFailure = { status: res.status, message };
  if (reason !== undefined) failure.reason = reason;
  if (retryAfter !== undefined) failure.retryAfter = retryAfter;
  if (namespace !== undefined) failure.namespace = namespace;
  return failure;
}
