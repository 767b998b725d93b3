// One JSON line per invocation on stdout, from pino (fast, structured, what log pipelines expect).
// Secrets cannot reach it: podcount never passes request headers or tokens to the logger, and the
// redact list is a second line of defence should a future change try.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'podcount' },
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: ['token', 'authorization', '*.authorization', '*.token', 'headers', '*.headers'],
      censor: '[redacted]',
    },
    // Synchronous writes: a line logged just before process.exit (drain, bad config) is not lost.
  }, pino.destination({ fd: 1, sync: true }));
}
