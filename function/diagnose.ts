// GET /diagnostics: what podcount knows about its own situation, so the two classic walls (a
// default ServiceAccount without a binding, a token the server refuses) take one request to see
// instead of hours. Every failed check comes with the fix. Nothing secret is shown: the token's
// claims are read (not verified) for its expiry, the token itself never leaves.
// gather() asks the API server; judge() turns what it found into the report, without I/O.
import type { App } from './app.ts';
import type { AuthReport } from './caller-auth.ts';
import type { Identity } from './cluster.ts';
import type { Scope } from './config.ts';
import { PodcountError } from './errors.ts';
import { rbacFixFor, serviceAccountOf } from './rbac-advice.ts';
import { accessReview, selfReview, serverVersion, type AccessAnswer, type UserInfo } from './review.ts';
import { readClaims, type TokenClaims } from './token.ts';

export interface Problem {
  code: string;
  message: string;
  hint: string;
}

export interface Diagnostics {
  ok: boolean;
  scope: string;
  config: { source: string; server: string | null; namespace: string | null; serviceAccountDir: string; notes: string[] };
  apiServer: { reachable: boolean; version: string | null };
  identity: { username: string | null; groups: string[]; from: 'SelfSubjectReview' | 'token claims' | 'kubeconfig' | null };
  token: (TokenClaims & { expiresInSeconds?: number }) | null;
  permissions: { listPodsClusterWide: AccessAnswer | null; listPodsInOwnNamespace: (AccessAnswer & { namespace: string }) | null };
  /** Who may ask (PODCOUNT_AUTH), and with it on: the audiences, the review caches, and who is asking. */
  auth: AuthSummary;
  problems: Problem[];
}

export type AuthSummary = { mode: 'none' } | (AuthReport & { caller?: string });

/** What gather() found out, before any judgement. */
export interface Findings {
  scope: Scope;
  config: Diagnostics['config'];
  /** Why there is no cluster connection; only read when `connection` is undefined. */
  why: string | undefined;
  connection: ConnectionFindings | undefined;
  /** Absent: callers are not checked. */
  auth?: AuthSummary;
}

export interface ConnectionFindings {
  source: 'in-cluster' | 'kubeconfig';
  identity: Identity;
  claims: TokenClaims | undefined;
  /** Why the credentials could not be re-read (an older token is still in use). */
  credentialsError: string | undefined;
  version: PromiseSettledResult<string | undefined>;
  self: PromiseSettledResult<UserInfo | undefined>;
  clusterWide: PromiseSettledResult<AccessAnswer>;
  /** Undefined value when podcount does not know its own namespace. */
  inOwnNamespace: PromiseSettledResult<AccessAnswer | undefined>;
}

export async function diagnose(app: App, now = new Date()): Promise<Diagnostics> {
  return judge(await gather(app), now);
}

/** Asks the API server the four questions at once; failures are kept, not thrown. */
export async function gather(app: App): Promise<Findings> {
  const api = app.api;
  const findings: Findings = {
    scope: app.config.scope,
    config: {
      source: api?.target.source ?? 'none',
      server: api?.target.server ?? null,
      namespace: app.ownNamespace ?? null,
      serviceAccountDir: app.config.serviceAccountDir,
      notes: app.notes,
    },
    why: app.why,
    connection: undefined,
    auth: app.callerAuth ? (await app.callerAuth).report() : { mode: 'none' },
  };
  if (!api) return findings;
  const { credentials, identity, source } = api.target;
  const token = credentials.currentToken();
  const ns = app.ownNamespace;
  const [version, self, clusterWide, inOwnNamespace] = await Promise.allSettled([
    serverVersion(api),
    selfReview(api),
    accessReview(api, undefined),
    ns ? accessReview(api, ns) : Promise.resolve(undefined),
  ]);
  findings.connection = { source, identity, claims: token ? readClaims(token) : undefined, credentialsError: credentials.readError(), version, self, clusterWide, inOwnNamespace };
  return findings;
}

/** The report: what was found, and a problem with a fix for everything that stands in the way. */
export function judge(f: Findings, now: Date): Diagnostics {
  const problems: Problem[] = [];
  const report: Diagnostics = {
    ok: false,
    scope: f.scope,
    config: f.config,
    apiServer: { reachable: false, version: null },
    identity: { username: null, groups: [], from: null },
    token: null,
    permissions: { listPodsClusterWide: null, listPodsInOwnNamespace: null },
    auth: f.auth ?? { mode: 'none' },
    problems,
  };
  const c = f.connection;
  if (!c) {
    problems.push({ code: 'no_cluster_config', message: f.why ?? 'no cluster configuration', hint: 'In a pod, keep the ServiceAccount token mounted; outside, set KUBECONFIG.' });
    return report;
  }

  const unreadable = { code: 'token_unreadable', hint: 'Mount the ServiceAccount token (automountServiceAccountToken must not be false).' };
  if (c.claims) {
    report.token = { ...c.claims };
    if (c.claims.expiresAt) {
      const seconds = Math.round((Date.parse(c.claims.expiresAt) - now.getTime()) / 1000);
      report.token.expiresInSeconds = seconds;
      if (seconds <= 0) problems.push({ code: 'token_expired', message: `The token expired at ${c.claims.expiresAt}.`, hint: 'The kubelet refreshes projected tokens; an expired one means the file is not a projected token (a copied Secret?) or the kubelet cannot reach the API server.' });
    }
    if (c.credentialsError) problems.push({ ...unreadable, message: `The token cannot be re-read (${c.credentialsError}); podcount keeps using the one it read before.` });
  } else if (c.source === 'in-cluster') {
    problems.push({ ...unreadable, message: `No readable token at ${c.identity.tokenPath}${c.credentialsError ? ` (${c.credentialsError})` : ''}.` });
  }

  if (c.version.status === 'fulfilled') report.apiServer = { reachable: true, version: c.version.value ?? null };
  else problems.push(asProblem(c.version.reason));

  if (c.self.status === 'fulfilled' && c.self.value) report.identity = { ...c.self.value, from: 'SelfSubjectReview' };
  else if (c.claims?.serviceAccount) report.identity = { username: `system:serviceaccount:${c.claims.serviceAccount.namespace}:${c.claims.serviceAccount.name}`, groups: [], from: 'token claims' };
  else if (c.identity.username) report.identity = { username: c.identity.username, groups: [], from: 'kubeconfig' };
  for (const check of [c.self, c.clusterWide, c.inOwnNamespace]) if (check.status === 'rejected') problems.push(asProblem(check.reason));

  const ns = f.config.namespace ?? undefined;
  if (c.clusterWide.status === 'fulfilled') report.permissions.listPodsClusterWide = c.clusterWide.value;
  if (c.inOwnNamespace.status === 'fulfilled' && c.inOwnNamespace.value && ns) report.permissions.listPodsInOwnNamespace = { ...c.inOwnNamespace.value, namespace: ns };

  const sa = serviceAccountOf(report.identity.username);
  const needed = f.scope === 'cluster' ? report.permissions.listPodsClusterWide : report.permissions.listPodsInOwnNamespace;
  if (needed && !needed.allowed) {
    const where = f.scope === 'cluster' ? undefined : ns;
    problems.push({
      code: 'forbidden',
      message: `${report.identity.username ?? 'podcount'} may not list pods ${where ? `in namespace ${where}` : 'at the cluster scope'}, which PODCOUNT_SCOPE=${f.scope} needs.`,
      hint: sa ? rbacFixFor(sa, where) : 'Grant "list" on "pods" to this identity.',
    });
  }
  if (f.scope === 'cluster' && report.permissions.listPodsClusterWide?.allowed === false && report.permissions.listPodsInOwnNamespace?.allowed) {
    problems.push({ code: 'scope_mismatch', message: `podcount may list pods in its namespace ${ns} but not cluster-wide.`, hint: 'Set PODCOUNT_SCOPE=namespace (knative/overlays/namespace-scoped does), or bind the ClusterRole cluster-wide.' });
  }
  // The same underlying failure (e.g. 401) reaches several checks; say it once.
  const seen = new Set<string>();
  report.problems = problems.filter((p) => (seen.has(p.code + p.message) ? false : (seen.add(p.code + p.message), true)));
  report.ok = report.problems.length === 0;
  return report;
}

function asProblem(err: unknown): Problem {
  if (err instanceof PodcountError) return { code: err.code, message: err.message, hint: err.hint };
  return { code: 'internal', message: err instanceof Error ? err.message : String(err), hint: 'This is a bug in podcount.' };
}
