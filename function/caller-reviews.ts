// The questions podcount asks the API server about a caller (PODCOUNT_AUTH=kubernetes), as
// kube-rbac-proxy and every aggregated API server ask them: who is behind this token, for one of
// podcount's audiences (TokenReview), and may that user list these pods (SubjectAccessReview)?
// Plus, at start, whether podcount may ask them at all. Every failure is thrown as a
// PodcountError that gives no count: 503 when the API server did not answer, 502 when podcount
// itself is refused. Loaded only when caller authorization is on.
import { callerCheckUnavailable, fromReviewFailure, PodcountError } from './errors.ts';
import { failureOf, type ApiClient } from './kubeapi.ts';

/** The user a TokenReview vouched for: exactly what a SubjectAccessReview needs. */
export interface Caller {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

export type TokenVerdict =
  | { authenticated: true; caller: Caller; audiences: string[] }
  /** `error` is the API server's reason, for podcount's log only (never a token in it). */
  | { authenticated: false; error: string };

/** The list a count makes, as an authorizer sees it: the namespace (none: cluster-wide) and the selectors. */
export interface ListQuestion {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
}

export interface AccessVerdict {
  allowed: boolean;
  reason?: string;
}

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
const SELF_ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';

/** Who holds `token`, if the API server accepts it for one of `audiences` (never empty: that would mean its own). */
export async function tokenReview(api: ApiClient, token: string, audiences: string[]): Promise<TokenVerdict> {
  const status = (await post(api, TOKEN_REVIEWS, 'tokenreviews', {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences },
  })) as { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }; audiences?: string[]; error?: string };
  if (status.authenticated !== true || !status.user?.username) return { authenticated: false, error: status.error ?? 'not authenticated' };
  // The API's own advice: check that an audience we asked for came back, so an audience-unaware
  // authenticator cannot vouch for a token that was never meant for podcount.
  const granted = status.audiences?.filter((a) => audiences.includes(a)) ?? [];
  if (granted.length === 0) return { authenticated: false, error: `the TokenReview did not confirm an audience of ${audiences.join(', ')}` };
  const { username, uid, groups, extra } = status.user;
  const caller: Caller = { username, groups: groups ?? [], extra: extra ?? {} };
  if (uid) caller.uid = uid;
  return { authenticated: true, caller, audiences: granted };
}

/** May `caller` list pods as `q` asks? The selectors go along: authorizers may use them (AuthorizeWithSelectors, GA in 1.34). */
export async function subjectAccessReview(api: ApiClient, caller: Caller, q: ListQuestion): Promise<AccessVerdict> {
  const status = (await post(api, ACCESS_REVIEWS, 'subjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: { user: caller.username, ...(caller.uid ? { uid: caller.uid } : {}), groups: caller.groups, extra: caller.extra, resourceAttributes: listAttributes(q) },
  })) as { allowed?: boolean; reason?: string };
  const verdict: AccessVerdict = { allowed: status.allowed === true };
  if (status.reason) verdict.reason = status.reason;
  return verdict;
}

/** The resourceAttributes of the list a count makes. */
export function listAttributes(q: ListQuestion): Record<string, unknown> {
  return {
    verb: 'list', group: '', resource: 'pods',
    ...(q.namespace ? { namespace: q.namespace } : {}),
    ...(q.labelSelector ? { labelSelector: { rawSelector: q.labelSelector } } : {}),
    ...(q.fieldSelector ? { fieldSelector: { rawSelector: q.fieldSelector } } : {}),
  };
}

/** Which of the two reviews podcount itself may not create (SelfSubjectAccessReview, allowed to everyone). */
export async function missingReviewPermissions(api: ApiClient): Promise<string[]> {
  const checks = [['authentication.k8s.io', 'tokenreviews'], ['authorization.k8s.io', 'subjectaccessreviews']] as const;
  const missing: string[] = [];
  for (const [group, resource] of checks) {
    const res = await api.post(SELF_ACCESS_REVIEWS, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', group, resource } } });
    if (res.status !== 201 && res.status !== 200) throw fromReviewFailure(failureOf(res), api.target.identity, 'subjectaccessreviews');
    if ((JSON.parse(res.body.toString('utf8')) as { status?: { allowed?: boolean } }).status?.allowed !== true) missing.push(`${resource}.${group}`);
  }
  return missing;
}

async function post(api: ApiClient, path: string, resource: 'tokenreviews' | 'subjectaccessreviews', body: unknown): Promise<unknown> {
  let res;
  try {
    res = await api.post(path, body);
  } catch (err) {
    // Connection failures arrive as 503 cluster_unavailable: say that it was the caller's check.
    throw err instanceof PodcountError ? callerCheckUnavailable(err) : err;
  }
  if (res.status !== 201 && res.status !== 200) throw fromReviewFailure(failureOf(res), api.target.identity, resource);
  try {
    return (JSON.parse(res.body.toString('utf8')) as { status?: unknown }).status ?? {};
  } catch {
    throw fromReviewFailure({ status: 502, message: `a ${resource} answer that is not JSON` }, api.target.identity, resource);
  }
}
