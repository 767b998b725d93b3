// The two questions podcount asks the API server about itself, both allowed to every
// authenticated identity (system:basic-user): who am I (SelfSubjectReview), and may I list pods
// (SelfSubjectAccessReview). They power the warm-up line and /diagnostics.
import { fromApiFailure, type PodcountError } from './errors.ts';
import { failureOf, type ApiClient, type ApiResponse } from './kubeapi.ts';

export interface AccessAnswer {
  allowed: boolean;
  reason?: string;
  /** Taken from the 403 message or claims when the server names the user. */
  username?: string;
}

export interface UserInfo {
  username: string;
  groups: string[];
}

/** May this identity list pods in `namespace` (undefined: in every namespace)? */
export async function accessReview(api: ApiClient, namespace: string | undefined): Promise<AccessAnswer> {
  const res = await call(api, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { verb: 'list', resource: 'pods', group: '', ...(namespace ? { namespace } : {}) } },
  });
  const status = (JSON.parse(res.body.toString('utf8')) as { status?: { allowed?: boolean; reason?: string } }).status ?? {};
  const answer: AccessAnswer = { allowed: status.allowed === true };
  if (status.reason) answer.reason = status.reason;
  if (api.target.identity.username) answer.username = api.target.identity.username;
  return answer;
}

/** Who the API server thinks podcount is; undefined when SelfSubjectReview is not served (< 1.28) or not allowed. */
export async function selfReview(api: ApiClient): Promise<UserInfo | undefined> {
  let res: ApiResponse;
  try {
    res = await call(api, '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  } catch (err) {
    // Both codes are 502s podcount makes of a 403 or an unexpected status (errors.ts).
    if (['forbidden', 'upstream_error'].includes((err as PodcountError).code)) return undefined;
    throw err;
  }
  const info = (JSON.parse(res.body.toString('utf8')) as { status?: { userInfo?: { username?: string; groups?: string[] } } }).status?.userInfo;
  return info?.username ? { username: info.username, groups: info.groups ?? [] } : undefined;
}

export async function serverVersion(api: ApiClient): Promise<string | undefined> {
  const res = await api.get('/version', 'application/json');
  if (res.status !== 200) throw fromApiFailure(failureOf(res), api.target.identity);
  return (JSON.parse(res.body.toString('utf8')) as { gitVersion?: string }).gitVersion;
}

async function call(api: ApiClient, path: string, body: unknown): Promise<ApiResponse> {
  const res = await api.post(path, body);
  if (res.status !== 200 && res.status !== 201) throw fromApiFailure(failureOf(res), api.target.identity);
  return res;
}
