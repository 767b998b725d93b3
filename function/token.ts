// The mounted ServiceAccount token. The kubelet rewrites it in place well before it expires, so it
// is re-read at most every 60 s (what client-go does) and at once when the API server answers 401:
// a rotated token whose predecessor was revoked must not fail requests for a minute.
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

  /** The current token, or undefined when the file is missing or empty (see lastError). */
  get(now = Date.now()): string | undefined {
    if (this.#value === undefined || now - this.#readAt > REREAD_AFTER_MS) this.#read(now);
    return this.#value;
  }

  /** Re-reads the file; true when the token changed (only then is a retry worth it). */
  refresh(): boolean {
    const before = this.#value;
    this.#read(Date.now());
    return this.#value !== undefined && this.#value !== before;
  }

  get lastError(): string | undefined {
    return this.#error;
  }

  #read(now: number): void {
    try {
      const value = readFileSync(this.path, 'utf8').trim();
      this.#value = value === '' ? undefined : value;
      this.#error = value === '' ? `${this.path} is empty` : undefined;
    } catch (err) {
      this.#value = undefined;
      this.#error = `cannot read ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
    this.#readAt = now;
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

export function readClaims(token: string): TokenClaims | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const k8s = (c['kubernetes.io'] ?? {}) as Record<string, Record<string, string> | string | undefined>;
  const sa = k8s['serviceaccount'] as Record<string, string> | undefined;
  const namespace = typeof k8s['namespace'] === 'string' ? k8s['namespace'] : undefined;
  const bound = (['pod', 'secret', 'node'] as const).find((kind) => typeof k8s[kind] === 'object');
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
  // Legacy Secret-based tokens (seed 004's default-token-xxxxx) use flat claim names and never expire.
  const legacyNs = c['kubernetes.io/serviceaccount/namespace'];
  const legacyName = c['kubernetes.io/serviceaccount/service-account.name'];
  if (typeof legacyNs === 'string' && typeof legacyName === 'string') {
    claims.serviceAccount = { namespace: legacyNs, name: legacyName };
  }
  if (bound) claims.boundTo = { kind: bound, name: (k8s[bound] as Record<string, string>)['name'] ?? '' };
  return claims;
}
