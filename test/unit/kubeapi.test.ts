// The API connection (kubeapi.ts) against local HTTP(S) servers: what it sends, how it recovers
// (a dead kept-alive socket, a 401 after the token rotated), how failures come out, and how a
// non-2xx answer is read. The real kube-apiserver is in test/integration (count, identity, faults).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ClusterTarget, Credentials } from '../../function/cluster.ts';
import { PodcountError } from '../../function/errors.ts';
import { failureOf, isStaleSocket, KubeApi, type ApiResponse } from '../../function/kubeapi.ts';
import { generateCerts, type CertFiles } from '../support/certs.ts';

type Handler = (req: IncomingMessage & { body: string }, res: ServerResponse) => void;

/** A local server that records requests and the connections they came on. */
interface Served { url: string; server: Server; requests: Array<IncomingMessage & { body: string }>; connections: Socket[]; close(): Promise<void> }

async function serve(handler: Handler, tls?: { cert: Buffer; key: Buffer }): Promise<Served> {
  const requests: Array<IncomingMessage & { body: string }> = [];
  const connections: Socket[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = Object.assign(req, { body: Buffer.concat(chunks).toString('utf8') });
      requests.push(r);
      handler(r, res);
    });
  };
  const server: Server = tls ? createHttpsServer(tls, onRequest) : createHttpServer(onRequest);
  server.on(tls ? 'secureConnection' : 'connection', (s: Socket) => connections.push(s));
  server.keepAliveTimeout = 0; // only the client closes kept-alive connections

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    server,
    requests,
    connections,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** Credentials handing out tokens in turn: refresh() moves to the next one, if there is one. */
function rotating(...tokens: Array<string | undefined>): Credentials & { refreshes: number } {
  let i = 0;
  return {
    refreshes: 0,
    authorization: async () => (tokens[i] ? `Bearer ${tokens[i]}` : undefined),
    async refresh() {
      this.refreshes++;
      if (i + 1 >= tokens.length) return false;
      i++;
      return true;
    },
    currentToken: () => tokens[i],
    readError: () => undefined,
  };
}

function target(server: string, credentials: Credentials, tls: ClusterTarget['tls'] = { rejectUnauthorized: true }, caPath?: string): ClusterTarget {
  return { source: 'in-cluster', server, ownNamespace: 'podcount', tls, caPath, credentials, identity: { source: 'in-cluster' }, notes: [] };
}

/** A KubeApi (defaults: token "t", no TLS, 5 s timeout) for a local server answering with `handler`; both closed after `use`. */
async function withApi(handler: Handler, use: (api: KubeApi, s: Served) => Promise<void>, o: { credentials?: Credentials; serverTls?: { cert: Buffer; key: Buffer }; tls?: ClusterTarget['tls']; caPath?: string; timeoutMs?: number } = {}): Promise<void> {
  const s = await serve(handler, o.serverTls);
  const api = new KubeApi(target(s.url, o.credentials ?? rotating('t'), o.tls, o.caPath), o.timeoutMs ?? 5000);
  try {
    await use(api, s);
  } finally {
    api.close();
    await s.close();
  }
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('KubeApi over plain HTTP', () => {
  test('a GET sends the path, Accept, user-agent podcount and the bearer token, and returns status, headers and body', async () => {
    await withApi((_req, res) => json(res, 200, { kind: 'PodList' }), async (api, s) => {
      const res = await api.get('/api/v1/pods?limit=1&labelSelector=a%3Db', 'application/json;as=Table');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(res.body.toString()), { kind: 'PodList' });
      assert.equal(res.credentialsReloaded, false);
      const [req] = s.requests;
      assert.equal(req?.method, 'GET');
      assert.equal(req?.url, '/api/v1/pods?limit=1&labelSelector=a%3Db');
      assert.equal(req?.headers.accept, 'application/json;as=Table');
      assert.equal(req?.headers['user-agent'], 'podcount');
      assert.equal(req?.headers.authorization, 'Bearer tok-1');
      assert.equal(req?.body, '');
    }, { credentials: rotating('tok-1') });
  });

  test('a POST sends its JSON body with content-type, content-length and Accept: application/json', async () => {
    await withApi((_req, res) => json(res, 201, { status: { allowed: true } }), async (api, s) => {
      const body = { kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'list', resource: 'pods' } } };
      const res = await api.post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', body);
      assert.equal(res.status, 201);
      const [req] = s.requests;
      assert.equal(req?.method, 'POST');
      assert.equal(req?.headers['content-type'], 'application/json');
      assert.equal(req?.headers.accept, 'application/json');
      assert.equal(req?.headers['content-length'], String(Buffer.byteLength(JSON.stringify(body))));
      assert.equal(req?.headers['transfer-encoding'], undefined, 'not chunked');
      assert.deepEqual(JSON.parse(req?.body ?? ''), body);
    }, { credentials: rotating('tok-1') });
  });

  test('without credentials no Authorization header is sent (not "Bearer undefined")', async () => {
    await withApi((_req, res) => json(res, 200, {}), async (api, s) => {
      await api.get('/version', 'application/json');
      assert.equal(s.requests[0]?.headers.authorization, undefined);
      assert.equal(s.requests[0]?.headers['content-length'], undefined, 'a GET has no body');
    }, { credentials: rotating(undefined) });
  });

  test('requests share one kept-alive connection, and close() ends it', async () => {
    await withApi((_req, res) => json(res, 200, {}), async (api, s) => {
      await api.get('/a', 'application/json');
      await api.get('/b', 'application/json');
      await api.post('/c', {});
      assert.equal(s.requests.length, 3);
      assert.equal(s.connections.length, 1, 'no TLS handshake or TCP connect per call on a warm instance');
      const closed = new Promise((resolve) => s.connections[0]?.once('close', resolve));
      api.close();
      await api.get('/d', 'application/json');
      assert.equal(s.connections.length, 2, 'the closed connection is not reused');
      await closed;
    });
  });
});

describe('KubeApi recovering', () => {
  test('a 401 after the token rotated is sent again once with the new token, and the answer says the credentials were reloaded', async () => {
    const creds = rotating('old', 'new');
    await withApi((req, res) => (req.headers.authorization === 'Bearer new' ? json(res, 200, { ok: 1 }) : json(res, 401, { kind: 'Status', reason: 'Unauthorized' })), async (api, s) => {
      const res = await api.get('/api/v1/pods', 'application/json');
      assert.equal(res.status, 200);
      assert.equal(res.credentialsReloaded, true);
      assert.deepEqual(s.requests.map((r) => r.headers.authorization), ['Bearer old', 'Bearer new']);
      assert.equal(creds.refreshes, 1);
    }, { credentials: creds });
  });

  test('a 401 with no new token to try is returned as it is, without a second request', async () => {
    const creds = rotating('old');
    await withApi((_req, res) => json(res, 401, { kind: 'Status', reason: 'Unauthorized' }), async (api, s) => {
      const res = await api.get('/api/v1/pods', 'application/json');
      assert.equal(res.status, 401);
      assert.equal(res.credentialsReloaded, false);
      assert.equal(s.requests.length, 1);
      assert.equal(creds.refreshes, 1);
    }, { credentials: creds });
  });

  test('a 401 that the new token also gets is not reported as reloaded credentials', async () => {
    await withApi((_req, res) => json(res, 401, { kind: 'Status', reason: 'Unauthorized' }), async (api, s) => {
      const res = await api.get('/api/v1/pods', 'application/json');
      assert.equal(res.status, 401);
      assert.equal(res.credentialsReloaded, false);
      assert.equal(s.requests.length, 2, 'one retry, not one per token');
    }, { credentials: rotating('old', 'new', 'newer') });
  });

  test('answers other than 401 never re-read the credentials', async () => {
    const creds = rotating('old', 'new');
    await withApi((_req, res) => json(res, 403, { kind: 'Status', reason: 'Forbidden' }), async (api, s) => {
      assert.equal((await api.get('/api/v1/pods', 'application/json')).status, 403);
      assert.equal(creds.refreshes, 0);
      assert.equal(s.requests.length, 1);
    }, { credentials: creds });
  });

  for (const [what, kill] of [
    ['reset (ECONNRESET)', (req: IncomingMessage) => req.socket.resetAndDestroy()],
    ['closed without an answer', (req: IncomingMessage) => req.socket.destroy()],
  ] as const) {
    test(`a kept-alive socket the server ${what} is retried once on a fresh connection`, async () => {
      let killed = 0;
      const s = await serve((req, res) => {
        if (req.url === '/die' && killed++ === 0) kill(req);
        else json(res, 200, { ok: 1 });
      });
      const api = new KubeApi(target(s.url, rotating('t')), 5000);
      try {
        await api.get('/warm', 'application/json');
        const res = await api.get('/die', 'application/json');
        assert.equal(res.status, 200);
        assert.deepEqual(s.requests.map((r) => r.url), ['/warm', '/die', '/die']);
        assert.equal(s.connections.length, 2);
      } finally {
        api.close();
        await s.close();
      }
    });
  }

  test('an answer cut off in the middle of its body is an error, retried once like a dead socket', async () => {
    let cut = 0;
    const s = await serve((_req, res) => {
      if (cut++ > 0) return json(res, 200, { items: [] });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"items": [', () => res.socket?.destroy());
    });
    const api = new KubeApi(target(s.url, rotating('t')), 5000);
    try {
      const res = await api.get('/api/v1/pods', 'application/json');
      assert.deepEqual(JSON.parse(res.body.toString()), { items: [] }, 'never half a body');
      assert.equal(s.requests.length, 2);
    } finally {
      api.close();
      await s.close();
    }
  });

  test('a socket that dies every time is retried once only, then a 503 cluster_unavailable naming the server', async () => {
    await withApi((req) => req.socket.resetAndDestroy(), async (api, s) => {
      await assert.rejects(api.get('/api/v1/pods', 'application/json'), (err: unknown) => {
        assert.ok(err instanceof PodcountError);
        assert.equal(err.status, 503);
        assert.equal(err.code, 'cluster_unavailable');
        assert.match(err.message, new RegExp(`Cannot reach the API server at ${s.url.replace(/\./g, '\\.')}: ECONNRESET`));
        return true;
      });
      assert.equal(s.requests.length, 2);
    });
  });

  test('a refused connection is not retried and comes out as a 503 with the NetworkPolicy hint', async () => {
    const s = await serve(() => {});
    const url = s.url;
    await s.close();
    const api = new KubeApi(target(url, rotating('t')), 5000);
    try {
      await assert.rejects(api.get('/api/v1/pods', 'application/json'), (err: unknown) => {
        assert.ok(err instanceof PodcountError);
        assert.equal(err.status, 503);
        assert.match(err.message, /: ECONNREFUSED$/);
        assert.match(err.hint, /NetworkPolicy/);
        return true;
      });
    } finally {
      api.close();
    }
  });

  test('an API server that does not answer within the timeout gives a 503 saying so, with the PODCOUNT_API_TIMEOUT_MS hint', async () => {
    const s = await serve(() => {}); // never answers
    const api = new KubeApi(target(s.url, rotating('t')), 300);
    try {
      await assert.rejects(api.get('/api/v1/pods', 'application/json'), (err: unknown) => {
        assert.ok(err instanceof PodcountError);
        assert.equal(err.status, 503);
        assert.match(err.message, /did not answer in time/);
        assert.match(err.hint, /PODCOUNT_API_TIMEOUT_MS/);
        return true;
      });
      assert.equal(s.requests.length, 1, 'a timeout is not a dead socket: no retry');
    } finally {
      api.close();
      await s.close();
    }
  });
});

test('a dead kept-alive socket is any of reset, broken pipe or aborted; other network errors are not', () => {
  for (const code of ['ECONNRESET', 'EPIPE', 'ECONNABORTED']) assert.equal(isStaleSocket(Object.assign(new Error(code), { code })), true, code);
  for (const code of ['ECONNREFUSED', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', undefined]) assert.equal(isStaleSocket(Object.assign(new Error('x'), { code })), false, String(code));
});

describe('KubeApi over HTTPS', () => {
  let dir: string;
  let certs: CertFiles;
  let tls: { cert: Buffer; key: Buffer };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'podcount-kubeapi-'));
    certs = generateCerts(dir);
    tls = { cert: readFileSync(certs.servingCert), key: readFileSync(certs.servingKey) };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('an https server is spoken to over TLS, verified against the target\'s CA', async () => {
    await withApi((_req, res) => json(res, 200, { ok: 1 }), async (api, s) => {
      assert.equal((await api.get('/version', 'application/json')).status, 200);
      await api.get('/version', 'application/json');
      assert.equal(s.connections.length, 1, 'the TLS connection is kept alive');
    }, { serverTls: tls, tls: { ca: certs.caPem, rejectUnauthorized: true }, caPath: certs.caCert });
  });

  test('a server the CA does not vouch for is a 503 naming the CA file to check', async () => {
    await withApi((_req, res) => json(res, 200, {}), async (api, s) => {
      await assert.rejects(api.get('/version', 'application/json'), (err: unknown) => {
        assert.ok(err instanceof PodcountError);
        assert.equal(err.status, 503);
        assert.match(err.message, /^TLS to https:\/\/127\.0\.0\.1:\d+ failed/);
        assert.match(err.hint, /serviceaccount\/ca\.crt; it must hold the cluster CA/);
        return true;
      });
      assert.equal(s.requests.length, 0);
    }, { serverTls: tls, tls: { rejectUnauthorized: true }, caPath: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt' });
  });

  test('rejectUnauthorized false (a kubeconfig\'s insecure-skip-tls-verify) connects without the CA', async () => {
    await withApi((_req, res) => json(res, 200, {}), async (api) => {
      assert.equal((await api.get('/version', 'application/json')).status, 200);
    }, { serverTls: tls, tls: { rejectUnauthorized: false } });
  });
});

describe('failureOf', () => {
  const res = (status: number, body: string, headers: Record<string, string> = {}): ApiResponse => ({ status, headers, body: Buffer.from(body), credentialsReloaded: false });

  test('reads a Status: its message, reason and details.retryAfterSeconds, and the namespace asked about', () => {
    const status = { kind: 'Status', status: 'Failure', message: 'pods is forbidden: User "x" cannot list', reason: 'Forbidden', details: { retryAfterSeconds: 7 } };
    assert.deepEqual(failureOf(res(403, JSON.stringify(status)), 'team-a'), { status: 403, message: status.message, reason: 'Forbidden', retryAfter: 7, namespace: 'team-a' });
  });

  test('a Retry-After header wins over details.retryAfterSeconds', () => {
    const body = JSON.stringify({ message: 'too many requests', reason: 'TooManyRequests', details: { retryAfterSeconds: 7 } });
    assert.equal(failureOf(res(429, body, { 'retry-after': '3' })).retryAfter, 3);
  });

  test('a plain-text answer (API Priority and Fairness\' 429) keeps its text, trimmed, with the Retry-After header', () => {
    assert.deepEqual(failureOf(res(429, '  Too many requests, please try again later.\n', { 'retry-after': '1' })),
      { status: 429, message: 'Too many requests, please try again later.', retryAfter: 1 });
  });

  test('a long plain-text answer is cut to 300 characters', () => {
    assert.equal(failureOf(res(502, `${'x'.repeat(400)}`)).message, 'x'.repeat(300));
  });

  test('an empty answer is named by its status', () => {
    assert.deepEqual(failureOf(res(503, '')), { status: 503, message: 'HTTP 503' });
  });

  test('a Status whose message or reason is not a string keeps the text and leaves the reason out', () => {
    const body = JSON.stringify({ message: 42, reason: { no: 1 } });
    assert.deepEqual(failureOf(res(500, body)), { status: 500, message: body });
  });

  test('a Retry-After header that is not a number is ignored', () => {
    assert.equal(failureOf(res(429, 'slow down', { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' })).retryAfter, undefined);
  });
});
