// One JSON line per invocation on stdout, from pino (fast, structured, what log pipelines expect).
// Secrets cannot reach it: podcount never passes request headers or tokens to the logger, and the
// redact list is a second line of defence should a future change try.
import pino from 'pino';

export type Logger = pino.Logger;

/** Writes to stdout unless given another destination (tests collect the lines). */
export function createLogger(level: string, destination: pino.DestinationStream = pino.destination({ fd: 1, sync: true })): Logger {
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
    // Synchronous writes to stdout: a line logged just before process.exit (drain, bad config) is not lost.
  }, destination);
}
