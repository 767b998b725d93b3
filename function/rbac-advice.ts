// The fix for a missing pod-list permission, as the exact kubectl lines for the ServiceAccount
// that lacks it. A 403 answer, the warm-up line and /diagnostics all give this same advice.

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

/** The ServiceAccount a username like system:serviceaccount:NS:NAME stands for, if it is one. */
export function serviceAccountOf(username: string): ServiceAccountRef | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
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
