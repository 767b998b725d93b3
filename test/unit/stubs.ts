// Stand-ins for what cold start builds, so unit tests run the handler, the server and diagnose()
// in-process: an App whose count() and warm-up the test controls, an API client answering from a
// function, and a logger whose JSON lines the test reads.
import type { AddressInfo } from 'node:net';
import type { App } from '../../function/app.ts';
import type { CallerAuth } from '../../function/caller-auth.ts';
import type { ClusterTarget } from '../../function/cluster.ts';
import { loadConfig } from '../../function/config.ts';
import type { CountQuery, CountResult } from '../../function/count.ts';
import { createHandler } from '../../function/handler.ts';
import type { ApiClient, ApiResponse } from '../../function/kubeapi.ts';
import { createLogger } from '../../function/log.ts';
import { MetricsRecorder } from '../../function/metrics-recorder.ts';
import { createServer, type PodcountServer } from '../../function/server.ts';

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export interface StubApp extends App {
  /** Every line logged, parsed. */
  readonly lines: LogLine[];
  readonly calls: { count: CountQuery[]; warmUp: number; close: number };
}

export const COUNTED: CountResult = { count: 32, resourceVersion: '7', strategy: 'remainingItemCount', apiRequests: 1, apiBytes: 1200, credentialsReloaded: false };

export function stubApp(o: { env?: Record<string, string>; count?: (q: CountQuery) => Promise<CountResult>; api?: ApiClient; ownNamespace?: string; why?: string; callerAuth?: CallerAuth } = {}): StubApp {
  const lines: LogLine[] = [];
  const calls = { count: [] as CountQuery[], warmUp: 0, close: 0 };
  const config = loadConfig({ PODCOUNT_LOG_LEVEL: 'debug', ...o.env });
  return {
    config,
    log: createLogger(config.logLevel, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) }),
    api: o.api,
    why: o.why,
    notes: [],
    ownNamespace: o.ownNamespace,
    lines,
    calls,
    metrics: new MetricsRecorder(),
    count(q) {
      calls.count.push(q);
      return o.count ? o.count(q) : Promise.resolve(COUNTED);
    },
    callerAuth: o.callerAuth && Promise.resolve(o.callerAuth),
    async warmUp() {
      calls.warmUp += 1;
    },
    close() {
      calls.close += 1;
    },
  };
}

/** The handler behind podcount's own server, listening on a free loopback port until `use` ends. */
export async function withServer(app: App, use: (url: string, s: PodcountServer) => Promise<void>): Promise<void> {
  const s = createServer(app, createHandler(app));
  await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
  try {
    await use(`http://127.0.0.1:${(s.server.address() as AddressInfo).port}`, s);
  } finally {
    s.server.closeAllConnections();
    await new Promise((resolve) => s.server.close(resolve));
  }
}

export function apiResponse(status: number, body: unknown, credentialsReloaded = false): ApiResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)), credentialsReloaded };
}

/** An in-cluster API client whose answers come from `answer`; `token` is what the mounted file holds. */
export function stubApi(answer: (method: 'GET' | 'POST', path: string, body?: unknown) => ApiResponse | Promise<ApiResponse>, o: { token?: string; readError?: string; ownNamespace?: string } = {}): ApiClient {
  const target: ClusterTarget = {
    source: 'in-cluster',
    server: 'https://10.0.0.1:443',
    ownNamespace: o.ownNamespace,
    tls: { rejectUnauthorized: true },
    caPath: '/sa/ca.crt',
    credentials: {
      authorization: async () => (o.token ? `Bearer ${o.token}` : undefined),
      refresh: async () => false,
      currentToken: () => o.token,
      readError: () => o.readError,
    },
    identity: { source: 'in-cluster', tokenPath: '/sa/token' },
    notes: [],
  };
  return {
    target,
    get: async (path) => answer('GET', path),
    post: async (path, body) => answer('POST', path, body),
    close: () => {},
  };
}

/** A ServiceAccount JWT with these claims (unsigned: podcount only reads claims). */
export function jwt(claims: object): string {
  return `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
}
