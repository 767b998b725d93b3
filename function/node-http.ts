// Node's http and https modules, loaded with require rather than `import`. An ESM import of
// node:http builds a facade that reads every export, including lazy getters (WebSocket and
// friends) that load Node's bundled undici: ~9 ms of every cold start for nothing podcount uses.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const http = require('node:http') as typeof import('node:http');
export const https = require('node:https') as typeof import('node:https');
