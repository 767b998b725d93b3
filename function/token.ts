// The mounted ServiceAccount token. The kubelet rewrites it in place well before it expires, so it
// is re-read at most every 60 s (what client-go does) and at once when the API server answers 401:
// a rotated token whose predecessor was revoked must not fail requests for a minute. A re-read
// that fails (the file missing or empty) keeps the last good token, as client-go's
// cachingTokenSource does: that token is likely still valid, and if it is not, the API server's
// 401 says so with a hint, which answering without any token would not.
import { readFileSync } from 'node:fs';

const REREAD_AFTER_MS = 60_000;

export class FileToken {
  readonly path: string;
  #value: string | undefined;
  #readAt = 0;
  #error: string | undefined;

  constructor(path: string) {
    this.path = path;
  }

  /** The last token read successfully; undefined when none ever was (lastError says why). */
  get(now = Date.now()): string | undefined {
    if (this.#value === undefined || now - this.#readAt > REREAD_AFTER_MS) this.#read(now);
    return this.#value;
  }

  /** Re-reads the file; true when it holds a new token (only then is a retry worth it). */
  refresh(): boolean {
    const before = this.#value;
    this.#read(Date.now());
    // A read never forgets a token, so a change always means a new one.
    return this.#value !== before;
  }

  /** Why the last read failed; undefined when it succeeded. */
  get lastError(): string | undefined {
    return this.#error;
  }

  #read(now: number): void {
    this.#readAt = now;
    let value: string;
    try {
      value = readFileSync(this.path, 'utf8').trim();
    } catch (err) {
      this.#error = `cannot read ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
      return;
    }
    if (value === '') {
      this.#error = `${this.path} is empty`;
      return;
    }
    this.#value = value;
    this.#error = undefined;
  }
}

/** What a ServiceAccount JWT says about itself. Read, never verified: only the API server can. */
export interface TokenClaims {
  issuer?: string;
  subject?: string;
  audiences?: string[];
  expiresAt?: string;
  issuedAt?: string;
  serviceAccount?: { namespace: string; name: string };
  boundTo?: { kind: string; name: string };
}

export function readClaims(token: string | undefined): TokenClaims | undefined {
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    // Not JSON: no claims, as for any payload that is no object (below).
  }
  // A caller's token can hold any JSON: only an object has claims.
  if (typeof json !== 'object' || json === null) return undefined;
  const c = json as Record<string, unknown>;
  const k8s = (c['kubernetes.io'] ?? {}) as Record<string, Record<string, string> | string | undefined>;
  const sa = k8s['serviceaccount'] as Record<string, string> | undefined;
  const namespace = typeof k8s['namespace'] === 'string' ? k8s['namespace'] : undefined;
  const bound = (['pod', 'secret', 'node'] as const).find((kind) => typeof k8s[kind] === 'object' && k8s[kind] !== null);
  const time = (v: unknown) => (typeof v === 'number' ? new Date(v * 1000).toISOString() : undefined);
  const claims: TokenClaims = {};
  if (typeof c['iss'] === 'string') claims.issuer = c['iss'];
  if (typeof c['sub'] === 'string') claims.subject = c['sub'];
  if (Array.isArray(c['aud'])) claims.audiences = c['aud'].filter((a) => typeof a === 'string');
  const exp = time(c['exp']);
  if (exp) claims.expiresAt = exp;
  const iat = time(c['iat']);
  if (iat) claims.issuedAt = iat;
  if (sa?.['name'] && namespace) claims.serviceAccount = { namespace, name: sa['name'] };
  // Legacy Secret-based tokens (default-token-xxxxx Secrets, like the default ServiceAccount token
  // rejected with "the server has asked for the client to provide credentials") use flat claim
  // names and never expire.
  const legacyNs = c['kubernetes.io/serviceaccount/namespace'];
  const legacyName = c['kubernetes.io/serviceaccount/service-account.name'];
  if (typeof legacyNs === 'string' && typeof legacyName === 'string') {
    claims.serviceAccount = { namespace: legacyNs, name: legacyName };
  }
  if (bound) claims.boundTo = { kind: bound, name: (k8s[bound] as Record<string, string>)['name'] ?? '' };
  return claims;
}
