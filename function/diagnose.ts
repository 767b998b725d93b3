// GET /diagnostics: what podcount knows about its own situation, so the walls of the seed
// articles (a default ServiceAccount without a binding, a token the server refuses) take one
// request to see instead of hours. Every failed check comes with the fix. Nothing secret is shown:
// the token's claims are read (not verified) for its expiry, the token itself never leaves.
import type { App } from './app.ts';
import { PodcountError, rbacFixFor, serviceAccountOf } from './errors.ts';
import { accessReview, selfReview, serverVersion, type AccessAnswer } from './review.ts';
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
  problems: Problem[];
}

export async function diagnose(app: App, now = new Date()): Promise<Diagnostics> {
  const problems: Problem[] = [];
  const api = app.api;
  const report: Diagnostics = {
    ok: false,
    scope: app.config.scope,
    config: {
      source: api?.target.source ?? 'none',
      server: api?.target.server ?? null,
      namespace: app.namespace ?? null,
      serviceAccountDir: app.config.serviceAccountDir,
      notes: app.notes,
    },
    apiServer: { reachable: false, version: null },
    identity: { username: null, groups: [], from: null },
    token: null,
    permissions: { listPodsClusterWide: null, listPodsInOwnNamespace: null },
    problems,
  };
  if (!api) {
    problems.push({ code: 'no_cluster_config', message: app.why ?? 'no cluster configuration', hint: 'In a pod, keep the ServiceAccount token mounted; outside, set KUBECONFIG.' });
    return report;
  }

  const token = api.target.credentials.currentToken();
  const claims = token ? readClaims(token) : undefined;
  if (claims) {
    report.token = { ...claims };
    if (claims.expiresAt) {
      const seconds = Math.round((Date.parse(claims.expiresAt) - now.getTime()) / 1000);
      report.token.expiresInSeconds = seconds;
      if (seconds <= 0) problems.push({ code: 'token_expired', message: `The token expired at ${claims.expiresAt}.`, hint: 'The kubelet refreshes projected tokens; an expired one means the file is not a projected token (a copied Secret?) or the kubelet cannot reach the API server.' });
    }
  } else if (api.target.source === 'in-cluster') {
    problems.push({ code: 'token_unreadable', message: `No readable token at ${api.target.identity.tokenPath}.`, hint: 'Mount the ServiceAccount token (automountServiceAccountToken must not be false).' });
  }

  const ns = app.namespace;
  const [version, who, clusterWide, inNamespace] = await Promise.allSettled([
    serverVersion(api),
    selfReview(api),
    accessReview(api, undefined),
    ns ? accessReview(api, ns) : Promise.resolve(undefined),
  ]);

  if (version.status === 'fulfilled') report.apiServer = { reachable: true, version: version.value ?? null };
  else problems.push(asProblem(version.reason));

  if (who.status === 'fulfilled' && who.value) report.identity = { ...who.value, from: 'SelfSubjectReview' };
  else if (claims?.serviceAccount) report.identity = { username: `system:serviceaccount:${claims.serviceAccount.namespace}:${claims.serviceAccount.name}`, groups: [], from: 'token claims' };
  else if (api.target.identity.username) report.identity = { username: api.target.identity.username, groups: [], from: 'kubeconfig' };
  for (const check of [who, clusterWide, inNamespace]) if (check.status === 'rejected') problems.push(asProblem(check.reason));

  if (clusterWide.status === 'fulfilled') report.permissions.listPodsClusterWide = clusterWide.value;
  if (inNamespace.status === 'fulfilled' && inNamespace.value && ns) report.permissions.listPodsInOwnNamespace = { ...inNamespace.value, namespace: ns };

  const sa = serviceAccountOf(report.identity.username ?? '');
  const needed = app.config.scope === 'cluster' ? report.permissions.listPodsClusterWide : report.permissions.listPodsInOwnNamespace;
  if (needed && !needed.allowed) {
    const where = app.config.scope === 'cluster' ? undefined : ns;
    problems.push({
      code: 'forbidden',
      message: `${report.identity.username ?? 'podcount'} may not list pods ${where ? `in namespace ${where}` : 'at the cluster scope'}, which PODCOUNT_SCOPE=${app.config.scope} needs.`,
      hint: sa ? rbacFixFor(sa, where) : 'Grant "list" on "pods" to this identity.',
    });
  }
  if (app.config.scope === 'cluster' && report.permissions.listPodsClusterWide?.allowed === false && report.permissions.listPodsInOwnNamespace?.allowed) {
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
