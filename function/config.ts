// The function's configuration, read once from the environment. Invalid values fail the start
// with one line naming the variable, so a bad manifest never becomes a running but wrong pod.

export type Scope = 'cluster' | 'namespace';
/** Who may ask: anyone who reaches podcount, or callers the API server vouches for (caller-auth.ts). */
export type AuthMode = 'none' | 'kubernetes';

export interface Config {
  /** Whole cluster (needs a ClusterRoleBinding) or only the pod's own namespace (a RoleBinding). */
  scope: Scope;
  /**
   * Items per page when a count must paginate (selectors given). Every page costs the API server a
   * walk of the whole collection, so fewer, larger pages are much faster (at 100k pods: 500 per
   * page 1.7 s, 2000 per page 0.55 s); 2000 Table rows keep peak RSS near 70 MB (bench/).
   */
  pageSize: number;
  /** Timeout of one API request, in milliseconds. */
  apiTimeoutMs: number;
  /** Restarts of a paginated count whose continue token expired (410) before answering 503. */
  expiredRetries: number;
  /** CloudEvent type of the reply; it must differ from the Trigger's filter so replies cannot loop. */
  replyType: string;
  diagnostics: boolean;
  /** GET /metrics in the Prometheus text format (its code loads on the first scrape). */
  metrics: boolean;
  /** Where the ServiceAccount token, ca.crt and namespace are mounted. */
  serviceAccountDir: string;
  /** Largest request body accepted; CloudEvents are small (the spec suggests 64 KiB). */
  maxBodyBytes: number;
  port: number;
  /** Knative's service name, for the reply's source attribute. */
  service: string;
  /** How long SIGTERM waits for in-flight requests before exiting anyway. */
  drainTimeoutMs: number;
  logLevel: string;
  /** `kubernetes`: every request but /healthz needs a Bearer token, checked by TokenReview and SubjectAccessReview. */
  auth: AuthMode;
  /** The token audiences podcount accepts (TokenReview spec.audiences): its own, never the API server's (an error line at start says so). */
  authAudiences: string[];
  /** How long a review's answer is reused (0: only while it is in flight). */
  authCacheSeconds: number;
  /** Entries each review cache holds at most (least recently used go first). */
  authCacheEntries: number;
}

export const DEFAULT_SERVICEACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  return {
    scope: oneOf(env, 'PODCOUNT_SCOPE', ['cluster', 'namespace'] as const, 'cluster'),
    pageSize: integer(env, 'PODCOUNT_PAGE_SIZE', 2000, 1, 10_000),
    apiTimeoutMs: integer(env, 'PODCOUNT_API_TIMEOUT_MS', 10_000, 100, 600_000),
    expiredRetries: integer(env, 'PODCOUNT_EXPIRED_RETRIES', 2, 0, 10),
    replyType: eventType(env, 'PODCOUNT_REPLY_TYPE', 'dev.podcount.pods.counted'),
    diagnostics: flag(env, 'PODCOUNT_DIAGNOSTICS', true),
    metrics: flag(env, 'PODCOUNT_METRICS', true),
    serviceAccountDir: nonEmpty(env, 'PODCOUNT_SERVICEACCOUNT_DIR', DEFAULT_SERVICEACCOUNT_DIR),
    maxBodyBytes: integer(env, 'PODCOUNT_MAX_BODY_BYTES', 64 * 1024, 0, 16 * 1024 * 1024),
    port: integer(env, 'PORT', 8080, 0, 65_535),
    service: nonEmpty(env, 'K_SERVICE', 'podcount'),
    drainTimeoutMs: integer(env, 'PODCOUNT_DRAIN_TIMEOUT_MS', 25_000, 0, 600_000),
    logLevel: oneOf(env, 'PODCOUNT_LOG_LEVEL', ['debug', 'info', 'warn', 'error', 'silent'] as const, 'info'),
    auth: oneOf(env, 'PODCOUNT_AUTH', ['none', 'kubernetes'] as const, 'none'),
    authAudiences: audiences(env, 'PODCOUNT_AUTH_AUDIENCES', [DEFAULT_AUDIENCE]),
    authCacheSeconds: integer(env, 'PODCOUNT_AUTH_CACHE_SECONDS', 10, 0, 300),
    authCacheEntries: integer(env, 'PODCOUNT_AUTH_CACHE_ENTRIES', 1024, 1, 100_000),
  };
}

/**
 * The audience callers' tokens must carry: one naming podcount, so a token minted for podcount
 * is useless against the API server or any other service, and a token for the API server (what a
 * pod mounts by default) is refused here instead of being handed to a function that could replay it.
 */
export const DEFAULT_AUDIENCE = 'podcount';

function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === '' ? undefined : value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`${name}=${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new ConfigError(`${name}=${JSON.stringify(value)} must be a whole number from ${min} to ${max}`);
  }
  return n;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (['on', 'true', '1', 'yes'].includes(value)) return true;
  if (['off', 'false', '0', 'no'].includes(value)) return false;
  throw new ConfigError(`${name}=${JSON.stringify(value)} must be on or off`);
}

function nonEmpty(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

function audiences(env: Env, name: string, fallback: string[]): string[] {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const list = value.split(',').map((a) => a.trim());
  // An empty entry would make TokenReview fall back to the API server's own audiences.
  if (list.some((a) => a === '' || /\s/.test(a))) throw new ConfigError(`${name}=${JSON.stringify(value)} must be a comma-separated list of audiences without blanks`);
  return [...new Set(list)];
}

function eventType(env: Env, name: string, fallback: string): string {
  const value = raw(env, name) ?? fallback;
  // Header-safe and in the reverse-DNS style CloudEvents recommends.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(value)) {
    throw new ConfigError(`${name}=${JSON.stringify(value)} is not a valid CloudEvent type (letters, digits, . _ -)`);
  }
  return value;
}
