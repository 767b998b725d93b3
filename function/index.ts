// The function: `podcount`, registered with the functions-framework (http signature, because a
// CloudEvent reply needs control of the HTTP response). `functions-framework --target=podcount
// --source=dist/index.mjs` serves it as is; the container runs main.ts, which serves this same
// handler with its own small server (faster cold start, a real drain on SIGTERM).
import { http } from '@google-cloud/functions-framework';
import { createApp } from './app.ts';
import { createHandler } from './handler.ts';
import * as instance from './instance.ts';
import { createLogger } from './log.ts';

export const app = createApp(instance, createLogger(instance.config.logLevel));
export const podcount = createHandler(app);

http('podcount', podcount);
