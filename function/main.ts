// The container's entry (`npm start`, the Dockerfile's CMD): serves the registered function on
// PORT with node:http, warms the API connection, and on SIGTERM stops accepting, lets in-flight
// requests finish and exits 0. (The functions-framework exits at once on SIGTERM, upstream #704.)
import { constants, enableCompileCache, flushCompileCache } from 'node:module';
import { join } from 'node:path';
import { http } from './builtins.ts';
import { ConfigError } from './config.ts';

// V8's code cache for the bundle saves ~5 ms of every cold start. The image ships it prebuilt
// (the Dockerfile warms it); where the folder is read-only and empty this is a no-op.
const compileCache = enableCompileCache(process.env['PODCOUNT_COMPILE_CACHE'] ?? join(import.meta.dirname, '.compile-cache'));

let entry: typeof import('./index.ts');
try {
  // The cluster connection first (its handshake runs while the rest loads), then the function.
  await import('./instance.ts');
  entry = await import('./index.ts');
} catch (err) {
  // A bad setting must stop the start with one line that names it, not a stack trace.
  console.error(err instanceof ConfigError ? `podcount: invalid configuration: ${err.message}` : err);
  process.exit(1);
}
const { app, podcount } = entry;
// `node dist/main.mjs --prepare-cache` (an image build step) fills the compile cache and exits.
if (process.argv.includes('--prepare-cache')) {
  flushCompileCache();
  // An image build must fail loudly rather than ship without the cache.
  if (compileCache.status === constants.compileCacheStatus.FAILED || compileCache.status === constants.compileCacheStatus.DISABLED) {
    console.error(`podcount: cannot prepare the compile cache in ${compileCache.directory ?? '(none)'}: ${compileCache.message ?? 'disabled'}`);
    process.exit(1);
  }
  process.exit(0);
}
const { log, config } = app;

let draining = false;
let inFlight = 0;
const server = http.createServer((req, res) => {
  inFlight += 1;
  if (draining) res.setHeader('connection', 'close');
  res.on('close', () => {
    inFlight -= 1;
    if (draining && inFlight === 0) server.closeIdleConnections();
  });
  void podcount(req, res);
});

server.listen(config.port, () => {
  const address = server.address();
  log.info({ port: typeof address === 'object' && address ? address.port : config.port, scope: config.scope, source: app.api?.target.source ?? 'none' }, 'listening');
  // After listening, so readiness never waits on the API server.
  app.warmUp().catch(() => undefined);
});

function drain(signal: string): void {
  if (draining) return;
  draining = true;
  log.info({ signal, inFlight }, 'draining: no new connections, finishing in-flight requests');
  const deadline = setTimeout(() => {
    log.warn({ inFlight }, 'drain timeout reached; exiting with requests still open');
    process.exit(0);
  }, config.drainTimeoutMs);
  deadline.unref();
  server.close(() => {
    app.close();
    log.info('drained; exiting');
    process.exit(0);
  });
  server.closeIdleConnections();
}

process.on('SIGTERM', () => drain('SIGTERM'));
process.on('SIGINT', () => drain('SIGINT'));
// A stray rejection is a bug to log, not a reason to drop every request in flight.
process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection'));
