// The fix for a missing pod-list permission, as the exact kubectl lines for the ServiceAccount
// that lacks it. A 403 answer, the warm-up line and /diagnostics all give this same advice.

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

/** The ServiceAccount a username like system:serviceaccount:NS:NAME stands for, if it is one (none when no user is known). */
export function serviceAccountOf(username: string | null | undefined): ServiceAccountRef | undefined {
  const m = username?.match(/^system:serviceaccount:([^:]+):([^:]+)$/);
  return m ? { namespace: m[1]!, name: m[2]! } : undefined;
}

/** The commands that let `sa` list pods in `namespace` (undefined: cluster-wide), and no more. */
export function rbacFixFor(sa: ServiceAccountRef, namespace?: string): string {
  const subject = `--serviceaccount=${sa.namespace}:${sa.name}`;
  if (namespace) {
    return `ServiceAccount ${sa.namespace}/${sa.name} may not list pods in namespace ${namespace}. Fix: kubectl create role podcount-pod-lister -n ${namespace} --verb=list --resource=pods && kubectl create rolebinding podcount-pod-lister -n ${namespace} --role=podcount-pod-lister ${subject} (or apply knative/overlays/namespace-scoped). Only "list" on "pods" is needed, not the broad "view" role.`;
  }
  return `ServiceAccount ${sa.namespace}/${sa.name} may not list pods at the cluster scope. Fix: kubectl create clusterrole podcount-pod-lister --verb=list --resource=pods && kubectl create clusterrolebinding podcount-pod-lister --clusterrole=podcount-pod-lister ${subject} (or kubectl apply -k knative/). Only "list" on "pods" is needed, not the broad "view" role. To count one namespace instead, set PODCOUNT_SCOPE=namespace with a RoleBinding.`;
}

// Advice for callers of podcount when it checks them (PODCOUNT_AUTH=kubernetes): how to get a
// token podcount accepts, what to grant a caller that may not list what it asked for, and what
// podcount itself needs to ask the API server about its callers.

/** How a caller gets a token for podcount: kubectl create token, or a projected volume in a pod. */
export function howToGetToken(audiences: string[], sa?: ServiceAccountRef): string {
  const audience = audiences[0] ?? 'podcount';
  const who = sa ? `${sa.name} -n ${sa.namespace}` : '<serviceaccount> -n <namespace>';
  return `Get one for audience "${audience}": TOKEN=$(kubectl create token ${who} --audience=${audience}) and curl -H "Authorization: Bearer $TOKEN" ...; in a pod, mount a projected serviceAccountToken volume with audience: ${audience} and send the file's content with each request (knative/components/cronjob does).`;
}

export type TokenProblem = 'missing' | 'malformed' | 'audience' | 'expired' | 'rejected';

/** The fix for a token podcount could not accept; `sa` and `expiresAt` come from the caller's own token. */
export function tokenAdvice(problem: TokenProblem, audiences: string[], o: { sa?: ServiceAccountRef | undefined; tokenAudiences?: string[] | undefined; expiresAt?: string | undefined } = {}): string {
  const accepted = audiences.map((a) => JSON.stringify(a)).join(', ');
  const get = howToGetToken(audiences, o.sa);
  switch (problem) {
    case 'missing':
      return `podcount answers only callers the API server vouches for (PODCOUNT_AUTH=kubernetes): send Authorization: Bearer <token>, a Kubernetes ServiceAccount token for audience ${accepted}. ${get}`;
    case 'malformed':
      return `The Authorization header must read "Bearer <token>": one token, printable characters, no spaces. ${get}`;
    case 'audience':
      return `podcount accepts tokens for audience ${accepted} only, so that a token given to podcount is useless anywhere else, and a token the API server accepts (like the one every pod mounts by default) is never handed to podcount. ${get}`;
    case 'expired':
      return `Tokens from kubectl create token last one hour unless --duration says otherwise; a projected token is renewed by the kubelet, so read the file again for each request. ${get}`;
    case 'rejected':
      return o.sa
        ? `The API server does not accept this token of ServiceAccount ${o.sa.namespace}/${o.sa.name}: the ServiceAccount or the object the token is bound to (pod, secret) was deleted, or the token is from another cluster. ${get}`
        : `The API server does not accept this token for audience ${accepted}: it is not a ServiceAccount token of this cluster (a kubeconfig's user token is for the API server, not podcount). ${get}`;
  }
}

/** `--serviceaccount=NS:NAME` or `--user=NAME`, and a binding name derived from it. */
function subjectOf(username: string): { flag: string; name: string; as: string } {
  const sa = serviceAccountOf(username);
  if (sa) return { flag: `--serviceaccount=${sa.namespace}:${sa.name}`, name: `${sa.namespace}-${sa.name}`, as: username };
  return { flag: `--user=${username}`, name: username.replace(/[/%]/g, '-'), as: username };
}

/** What lets a caller list pods in `namespace` (undefined: cluster-wide) itself, and so through podcount. */
export function callerGrantFor(username: string, namespace?: string): string {
  const s = subjectOf(username);
  const grant = namespace
    ? `kubectl create rolebinding pod-lister-${s.name} -n ${namespace} --clusterrole=pod-lister ${s.flag}`
    : `kubectl create clusterrolebinding pod-lister-${s.name} --clusterrole=pod-lister ${s.flag}`;
  const trigger = /^system:serviceaccount:([^:]+):(.+)-oidc-eventing\.knative\.dev-trigger$/.exec(username);
  const eventing = trigger ? ` This is the OIDC identity Knative Eventing gives Trigger ${trigger[1]}/${trigger[2]}; knative/components/caller-auth grants it for the Triggers podcount ships.` : '';
  return `podcount counts for a caller only what the caller may list itself. Fix: kubectl create clusterrole pod-lister --verb=list --resource=pods (once per cluster), then ${grant}. Check: kubectl auth can-i list pods ${namespace ? `-n ${namespace}` : '--all-namespaces'} --as=${s.as}.${eventing}`;
}

/** What podcount's own ServiceAccount needs to check its callers: create TokenReviews and SubjectAccessReviews. */
export function reviewsFixFor(sa: ServiceAccountRef | undefined): string {
  const subject = sa ? `--serviceaccount=${sa.namespace}:${sa.name}` : '--serviceaccount=<namespace>:<name>';
  return `PODCOUNT_AUTH=kubernetes needs podcount's identity to create tokenreviews and subjectaccessreviews. Fix: kubectl create clusterrole podcount-caller-reviews --verb=create --resource=tokenreviews.authentication.k8s.io,subjectaccessreviews.authorization.k8s.io && kubectl create clusterrolebinding podcount-caller-reviews --clusterrole=podcount-caller-reviews ${subject} (or add knative/components/caller-auth to the kustomization; the built-in system:auth-delegator role grants the same two). Until then no caller gets a count.`;
}
