// podcount's own HTTP server, built but not yet listening (main.ts listens; tests listen on port
// 0 in-process). Once listening it logs where and starts the warm-up, so readiness never waits on
// the API server. drain() stops accepting connections, lets requests in flight finish (up to
// PODCOUNT_DRAIN_TIMEOUT_MS) and closes the API connection; what happens next is main.ts's call.
// (The functions-framework's server exits at once on SIGTERM, upstream #704.)
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from './app.ts';
import { http } from './node-http.ts';

export interface PodcountServer {
  readonly server: Server;
  /** Requests being answered now. */
  readonly inFlight: number;
  /** Resolves 'drained' once every request has finished, or 'timed out' after the drain timeout. */
  drain(signal: string): Promise<'drained' | 'timed out'>;
}

export function createServer(app: App, handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>): PodcountServer {
  const { log, config } = app;
  let inFlight = 0;
  let drained: Promise<'drained' | 'timed out'> | undefined;
  const server = http.createServer((req, res) => {
    inFlight += 1;
    if (drained) res.setHeader('connection', 'close');
    res.on('close', () => {
      inFlight -= 1;
      if (drained && inFlight === 0) server.closeIdleConnections();
    });
    void handler(req, res);
  });

  server.once('listening', () => {
    // performance.now() counts from the process's time origin: this is the whole start inside Node.
    app.metrics.ready(performance.now() / 1000);
    // A TCP server (podcount listens on PORT only): its address is an AddressInfo.
    const { port } = server.address() as AddressInfo;
    log.info({ port, scope: config.scope, auth: config.auth, source: app.api?.target.source ?? 'none' }, 'listening');
    app.warmUp().catch(() => undefined);
  });

  function drain(signal: string): Promise<'drained' | 'timed out'> {
    drained ??= new Promise((resolve) => {
      log.info({ signal, inFlight }, 'draining: no new connections, finishing in-flight requests');
      const deadline = setTimeout(() => {
        log.warn({ inFlight }, 'drain timeout reached; exiting with requests still open');
        resolve('timed out');
      }, config.drainTimeoutMs);
      deadline.unref();
      server.close(() => {
        clearTimeout(deadline);
        app.close();
        log.info('drained; exiting');
        resolve('drained');
      });
      // server.close() also closes the idle kept-alive connections (Node >= 19); busy ones close after their answer.
    });
    return drained;
  }

  return { server, drain, get inFlight() { return inFlight; } };
}
