// Caller authentication and authorization (PODCOUNT_AUTH=kubernetes). podcount holds a
// cluster-wide `list pods` grant; without this, anyone who reaches it learns what that grant
// shows (a confused deputy). With it, as kube-rbac-proxy does: the caller's Bearer token goes to
// a TokenReview (for podcount's audiences only), and the user it names to a SubjectAccessReview
// for exactly the list the count makes. A caller gets a count only where the API server would
// let it make that list itself. Anything the API server cannot answer gives no count (503).
//
// Answers are reused for PODCOUNT_AUTH_CACHE_SECONDS (10 s, Kubernetes' own delegated
// authentication and authorization default), a token's at most until its own expiry; each cache
// holds PODCOUNT_AUTH_CACHE_ENTRIES answers (1024). Keys: for TokenReviews a SHA-256 of the token
// (with the audiences); for SubjectAccessReviews a SHA-256 of the reviewed user (name, uid,
// groups, extra) with the exact list asked. A token is never stored, logged or returned.
// This module is loaded (a chunk of its own) only when PODCOUNT_AUTH=kubernetes.
import { hash } from 'node:crypto';
import { missingReviewPermissions, subjectAccessReview, tokenReview, type AccessVerdict, type Caller, type ListQuestion } from './caller-reviews.ts';
import type { Config } from './config.ts';
import { callerForbidden, callerUnauthenticated, noClusterConfig, type PodcountError } from './errors.ts';
import type { ApiClient } from './kubeapi.ts';
import type { Logger } from './log.ts';
import { reviewsFixFor, serviceAccountOf, type TokenProblem } from './rbac-advice.ts';
import { ReviewCache } from './review-cache.ts';
import { readClaims } from './token.ts';

/** A caller the API server vouched for, with the hash its access decisions are kept under. */
export interface CheckedCaller extends Caller {
  readonly identityKey: string;
}

/** A TokenReview's answer, kept at most until `expiresAt`: the token's own expiry, when it has one. */
type Authentication = ({ ok: true; caller: CheckedCaller } | { ok: false; error: string }) & { expiresAt: number | undefined };

export interface AuthReport {
  mode: 'kubernetes';
  audiences: string[];
  cache: {
    ttlSeconds: number;
    maxEntries: number;
    /** Answers held now, and reviews sent since start. */
    tokenReviews: { held: number; sent: number };
    accessReviews: { held: number; sent: number };
  };
}

export interface CallerAuth {
  /** The caller behind an Authorization header, or a 401 (503 when the API server cannot say). */
  authenticate(authorization: string | undefined): Promise<CheckedCaller>;
  /** Returns when `caller` may make the list `q`; otherwise a 403 (503 when the API server cannot say). */
  authorize(caller: CheckedCaller, q: ListQuestion): Promise<void>;
  /** What /diagnostics stands for: everything podcount lists (cluster-wide, or its namespace). */
  readonly scopeQuestion: ListQuestion;
  report(): AuthReport;
  /** At start: may podcount create the reviews? Says the fix once, clearly, when not. */
  warmUp(log: Logger): Promise<void>;
}

export interface CallerAuthOptions {
  api: ApiClient | undefined;
  /** Why there is no API client (every check then answers 503 no_cluster_config). */
  why: string | undefined;
  config: Pick<Config, 'authAudiences' | 'authCacheSeconds' | 'authCacheEntries'>;
  /** The namespace podcount counts in namespace scope; undefined: all of them. */
  scopeNamespace: string | undefined;
  now?: () => number;
}

/** JWTs are ~1 KB; 16 KiB leaves room for large claims and refuses absurd headers before any review. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

export function createCallerAuth(o: CallerAuthOptions): CallerAuth {
  const now = o.now ?? Date.now;
  const audiences = o.config.authAudiences;
  const cacheOptions = { ttlMs: o.config.authCacheSeconds * 1000, maxEntries: o.config.authCacheEntries, now };
  const tokens = new ReviewCache<Authentication>(cacheOptions);
  const access = new ReviewCache<AccessVerdict>(cacheOptions);
  const audienceKey = JSON.stringify(audiences);

  function requireApi(): ApiClient {
    if (!o.api) throw noClusterConfig(o.why ?? 'unknown');
    return o.api;
  }

  return {
    scopeQuestion: o.scopeNamespace ? { namespace: o.scopeNamespace } : {},

    async authenticate(authorization) {
      const api = requireApi();
      if (authorization === undefined || authorization.trim() === '') throw callerUnauthenticated('missing', audiences);
      const token = BEARER.exec(authorization)?.[1];
      if (!token || token.length > MAX_TOKEN_LENGTH) throw callerUnauthenticated('malformed', audiences);
      const key = sha256(`${audienceKey}\n${token}`);
      const outcome = tokens.peek(key) ?? await tokens.get(key, async (): Promise<Authentication> => {
        const verdict = await tokenReview(api, token, audiences);
        // The token's own expiry (read, not verified) can only shorten how long its answer is kept.
        const exp = readClaims(token)?.expiresAt;
        const expiresAt = exp ? Date.parse(exp) : undefined;
        return verdict.authenticated ? { ok: true, caller: { ...verdict.caller, identityKey: identityKey(verdict.caller) }, expiresAt } : { ok: false, error: verdict.error, expiresAt };
      }, (a) => a.expiresAt);
      if (outcome.ok) return outcome.caller;
      // Why, in the caller's terms, from what its own token says about itself.
      const claims = readClaims(token);
      const expiresAt = outcome.expiresAt;
      const tokenAudiences = claims?.audiences;
      let problem: TokenProblem = 'rejected';
      if (tokenAudiences && !tokenAudiences.some((a) => audiences.includes(a))) problem = 'audience';
      else if (expiresAt !== undefined && expiresAt <= now()) problem = 'expired';
      const err: PodcountError = callerUnauthenticated(problem, audiences, { sa: claims?.serviceAccount, tokenAudiences, expiresAt: claims?.expiresAt });
      err.detail = outcome.error;
      throw err;
    },

    async authorize(caller, q) {
      const api = requireApi();
      // The identity is a hash already; a long question (selectors run to 4 KiB) is hashed too, to keep entries small.
      const question = JSON.stringify([q.namespace ?? null, q.labelSelector ?? null, q.fieldSelector ?? null]);
      const key = `${caller.identityKey}\n${question.length > 200 ? sha256(question) : question}`;
      const verdict = access.peek(key) ?? await access.get(key, () => subjectAccessReview(api, caller, q));
      if (!verdict.allowed) throw callerForbidden(caller.username, q.namespace, verdict.reason);
    },

    report() {
      return {
        mode: 'kubernetes',
        audiences,
        cache: {
          ttlSeconds: o.config.authCacheSeconds,
          maxEntries: o.config.authCacheEntries,
          tokenReviews: { held: tokens.size, sent: tokens.reviews },
          accessReviews: { held: access.size, sent: access.reviews },
        },
      };
    },

    async warmUp(log) {
      const api = o.api;
      if (!api) return;
      const apiAudiences = readClaims(api.target.credentials.currentToken())?.audiences?.filter((a) => audiences.includes(a)) ?? [];
      if (apiAudiences.length > 0) {
        log.error({ audiences }, `PODCOUNT_AUTH_AUDIENCES includes ${apiAudiences.join(', ')}, the audience of podcount's own API token: callers would hand podcount tokens the API server accepts. Use an audience of podcount's own (the default, "podcount").`);
      }
      try {
        const missing = await missingReviewPermissions(api);
        if (missing.length > 0) log.warn({ missing }, reviewsFixFor(serviceAccountOf(api.target.identity.username)));
        else log.info({ audiences }, 'callers are checked: TokenReview for these audiences, then SubjectAccessReview for the list they ask');
      } catch (err) {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not check whether podcount may review callers; every request will try');
      }
    },
  };
}

function sha256(text: string): string {
  return hash('sha256', text, 'base64url');
}

/** The whole user a SubjectAccessReview is about: two callers share a decision only if all of it is equal. */
function identityKey(c: Caller): string {
  const extra = Object.keys(c.extra).sort().map((k) => [k, c.extra[k]]);
  return sha256(JSON.stringify([c.username, c.uid ?? null, c.groups, extra]));
}
