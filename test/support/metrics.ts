// kube-apiserver's own request counter: a count of what clients really sent, independent of what
// any client says it sent.
import type { ControlPlane } from './controlplane.ts';

/**
 * apiserver_request_total for one verb and resource, summed over codes, scopes and components
 * (subresources excluded). The counter starts at zero with each kube-apiserver process
 * (stopApiServer resets it).
 */
export async function apiRequestCount(cp: ControlPlane, filter: { verb: string; resource: string }): Promise<number> {
  const res = await cp.admin.must('/metrics', { headers: { accept: 'text/plain' } });
  const verb = filter.verb.toUpperCase();
  let total = 0;
  for (const line of res.text.split('\n')) {
    const m = /^apiserver_request_total\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (labels['verb'] === verb && labels['resource'] === filter.resource && !labels['subresource']) total += Number(m[2]);
  }
  return total;
}
