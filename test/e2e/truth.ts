// The API server's own pod count (the truth), and the check every count test makes: podcount's
// answer, taken while the truth stood still (pods come and go meanwhile), equals it.
import assert from 'node:assert/strict';
import type { NodeCluster } from '../node/node-cluster.ts';
import { requestFrom, type ClientPod } from './client.ts';

export interface Query {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** The pods the admin sees for the query. */
export async function truth(cluster: NodeCluster, q: Query = {}): Promise<number> {
  const params = new URLSearchParams();
  if (q.labelSelector) params.set('labelSelector', q.labelSelector);
  if (q.fieldSelector) params.set('fieldSelector', q.fieldSelector);
  const path = q.namespace ? `/api/v1/namespaces/${q.namespace}/pods` : '/api/v1/pods';
  return ((await cluster.admin.must(`${path}?${params}`)).json.items as unknown[]).length;
}

/** Asks podcount at `baseUrl` from the client pod; returns the count, which must equal the truth. */
export async function countMatchesTruth(cluster: NodeCluster, client: ClientPod, baseUrl: string, query: Query = {}): Promise<number> {
  const path = `/?${new URLSearchParams(query as Record<string, string>)}`;
  for (let attempt = 0; attempt < 10; attempt++) {
    const before = await truth(cluster, query);
    const res = await requestFrom(cluster, client, `${baseUrl}${path}`);
    const after = await truth(cluster, query);
    assert.equal(res.status, 200, res.body);
    if (before === after) {
      assert.equal(res.json.count, before, `podcount counted ${res.json.count} for ${path}, the API server holds ${before}`);
      return before;
    }
  }
  throw new Error(`the pod count for ${path} never stood still`);
}
