// The container's entry (`npm start`, the Dockerfile's CMD). Process concerns only: the V8 code
// cache, loading the function, listening on PORT, and on SIGTERM draining (server.ts) and exiting 0.
import { constants, enableCompileCache } from 'node:module';
import { join } from 'node:path';
import { ConfigError } from './config.ts';
import { createServer } from './server.ts';

// V8's code cache for the bundle saves ~5 ms of every cold start. The image ships it prebuilt
// (the Dockerfile warms it); where the folder is read-only and empty this is a no-op.
const compileCacheDir = process.env['PODCOUNT_COMPILE_CACHE'] ?? join(import.meta.dirname, '.compile-cache');
const compileCache = enableCompileCache(compileCacheDir);

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
// Node writes the cache as the process exits (process.exit included).
if (process.argv.includes('--prepare-cache')) {
  // An image build must fail loudly rather than ship without the cache. Node gives a message
  // for both (e.g. "Cannot create cache directory: ...", "Disabled by NODE_DISABLE_COMPILE_CACHE").
  if (compileCache.status === constants.compileCacheStatus.FAILED || compileCache.status === constants.compileCacheStatus.DISABLED) {
    console.error(`podcount: cannot prepare the compile cache in ${compileCacheDir}: ${compileCache.message}`);
    process.exit(1);
  }
  process.exit(0);
}

const { server, drain } = createServer(app, podcount);
server.listen(app.config.port);

// Exit 0 either way: Kubernetes is stopping the pod, and a non-zero code would only read as a crash.
const stop = (signal: string) => void drain(signal).then(() => process.exit(0));
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
// A stray rejection is a bug to log, not a reason to drop every request in flight.
process.on('unhandledRejection', (reason) => app.log.error({ err: reason }, 'unhandled rejection'));
