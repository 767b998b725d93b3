// Counting pods without listing them all (client-go and client-node programs that count
// `items` of a full list pay O(N) bytes and memory).
// - No selectors: one `limit=1` list. The server answers with `continue` and
//   `metadata.remainingItemCount` (exact for that snapshot), so count = items + remaining: O(1).
// - Selectors: the server leaves remainingItemCount unset, so page through in the cheapest
//   representation (a Table without objects), counting rows and dropping each page: memory stays
//   flat in N. If any page carries remainingItemCount after all, stop there.
// Reads are consistent (resourceVersion unset): never `resourceVersion=0`, whose list ignores limit.
// A breakdown (breakdown.ts) pins several counts to one snapshot: resourceVersion=<rv of its first
// read>&resourceVersionMatch=Exact, where remainingItemCount stays exact (test/README.md).
import type { Scope } from './config.ts';
import { fromApiFailure, upstreamNotJson } from './errors.ts';
import { failureOf, type ApiClient } from './kubeapi.ts';

export interface CountQuery {
  /** Undefined counts every namespace. */
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** A breakdown of the counted pods (breakdown.ts) instead of one number. */
  groupBy?: GroupBy | undefined;
}

export const GROUP_BYS = ['namespace', 'phase', 'node'] as const;
export type GroupBy = (typeof GROUP_BYS)[number];

/** How a count was made; a breakdown names its method (breakdown.ts says why each). */
export type Strategy = 'remainingItemCount' | 'single-page' | 'paginated' | 'namespace-metadata-pages' | 'phase-field-selectors' | 'node-table-column';

export interface CountResult {
  count: number;
  /** The resourceVersion of the snapshot that was counted. */
  resourceVersion: string;
  strategy: Strategy;
  /** API list requests this count made (pages, plus restarts after 410 Expired). */
  apiRequests: number;
  /** Response bytes those requests received from the API server. */
  apiBytes: number;
  /** A 401 was recovered from by re-reading rotated credentials during this count. */
  credentialsReloaded: boolean;
  /** A breakdown's pods per group (only groups with pods), summing to count. */
  groups?: Record<string, number>;
}

export interface CountOptions {
  pageSize: number;
  expiredRetries: number;
}

/** Accept headers: each falls back to plain JSON for servers that cannot transform. */
export const REPRESENTATIONS = {
  metadata: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
  table: 'application/json;as=Table;g=meta.k8s.io;v=v1,application/json',
  json: 'application/json',
} as const;
export type Representation = keyof typeof REPRESENTATIONS;

/** Chosen by measurement (bench/scale): metadata is smallest at limit=1, Table rows per page. */
const FIRST_PAGE: Representation = 'metadata';
const PAGES: Representation = 'table';

export function scopeOf(q: CountQuery): Scope {
  return q.namespace === undefined ? 'cluster' : 'namespace';
}

/** What a count needs of the API client: list requests, and whose they are (for the hints of a failure). */
export type Lister = Pick<ApiClient, 'target' | 'get'>;

/** What a count's API requests cost, summed over its pages and restarts. */
export type Tally = Pick<CountResult, 'apiRequests' | 'apiBytes' | 'credentialsReloaded'>;

export function countPods(api: Lister, q: CountQuery, opts: CountOptions): Promise<CountResult> {
  return restartingOnExpiry(api, opts, (tally) => countOnce(api, q, opts, tally));
}

/** Runs `once` until it completes; an expired snapshot starts it again (PODCOUNT_EXPIRED_RETRIES), then 503. */
export async function restartingOnExpiry<T>(api: Lister, opts: CountOptions, once: (tally: Tally) => Promise<T>): Promise<T & Tally> {
  const tally: Tally = { apiRequests: 0, apiBytes: 0, credentialsReloaded: false };
  for (let attempt = 0; ; attempt++) {
    try {
      const done = await once(tally);
      return { ...done, ...tally };
    } catch (err) {
      if (!(err instanceof ExpiredError)) throw err;
      // The continue token outlived etcd's compaction: start a new consistent list.
      if (attempt >= opts.expiredRetries) throw fromApiFailure({ status: 410, message: err.message }, api.target.identity);
    }
  }
}

/** The list's snapshot is gone (410): the whole count or breakdown starts again. */
export class ExpiredError extends Error {}

export interface ListPage {
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions?: Array<{ name?: string }>;
  items?: unknown[];
  rows?: unknown[];
}

type Counted = Pick<CountResult, 'count' | 'resourceVersion' | 'strategy'>;

/** The path listing the query's pods: namespaced when the query (or its field selector) names one. */
export function listPath(q: CountQuery): { base: string; namespace: string | undefined } {
  const namespace = q.namespace ?? namespaceFromFieldSelector(q.fieldSelector);
  return { base: namespace === undefined ? '/api/v1/pods' : `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, namespace };
}

/** One count; `pinned` reads the snapshot of that resourceVersion instead of the latest. */
export async function countOnce(api: Lister, q: CountQuery, opts: CountOptions, tally: Tally, pinned?: string): Promise<Counted> {
  const filtered = Boolean(q.labelSelector || q.fieldSelector);
  const { base, namespace } = listPath(q);
  let count = 0;
  let pages = 0;
  let resourceVersion = '';
  let cont: string | undefined;
  for (;;) {
    const representation = pages === 0 && !filtered ? FIRST_PAGE : PAGES;
    const params = new URLSearchParams({ limit: String(pages === 0 && !filtered ? 1 : opts.pageSize) });
    if (q.labelSelector) params.set('labelSelector', q.labelSelector);
    if (q.fieldSelector) params.set('fieldSelector', q.fieldSelector);
    // Later pages carry the snapshot in their continue token.
    if (cont) params.set('continue', cont);
    else if (pinned) pinTo(params, pinned);
    if (representation === 'table') params.set('includeObject', 'None');
    const page = await fetchPage(api, `${base}?${params}`, representation, namespace, pages > 0 || pinned !== undefined, tally);
    pages += 1;
    const items = page.kind === 'Table' ? page.rows : page.items;
    count += Array.isArray(items) ? items.length : 0;
    const meta: NonNullable<ListPage['metadata']> = page.metadata ?? {};
    resourceVersion ||= meta.resourceVersion ?? '';
    cont = meta.continue || undefined;
    if (!cont) return { count, resourceVersion, strategy: pages === 1 ? 'single-page' : 'paginated' };
    const remaining = meta.remainingItemCount;
    if (typeof remaining === 'number' && remaining >= 0) return { count: count + remaining, resourceVersion, strategy: 'remainingItemCount' };
  }
}

/**
 * `metadata.namespace=X` in a cluster-wide field selector: kube-apiserver (seen on 1.36) then
 * lists only X's key range but hands out continue tokens relative to it, which the cluster-wide
 * endpoint resolves past every pod: page 2 comes back empty and the count is short. The
 * namespaced endpoint (with the same selector) pages correctly. test/README.md has the numbers.
 */
export function namespaceFromFieldSelector(fieldSelector: string | undefined): string | undefined {
  for (const term of (fieldSelector ?? '').split(/(?<!\\),/)) {
    const m = /^\s*metadata\.namespace\s*==?\s*([a-z0-9]([-a-z0-9]*[a-z0-9])?)\s*$/.exec(term);
    if (m) return m[1];
  }
  return undefined;
}

export function pinTo(params: URLSearchParams, resourceVersion: string): void {
  params.set('resourceVersion', resourceVersion);
  params.set('resourceVersionMatch', 'Exact');
}

/** One list page. With `snapshotRead` (a continue token or a pinned resourceVersion) a 410 is ExpiredError: start again. */
export async function fetchPage(api: Lister, path: string, representation: Representation, namespace: string | undefined, snapshotRead: boolean, tally: Tally): Promise<ListPage> {
  const res = await api.get(path, REPRESENTATIONS[representation]);
  tally.apiRequests += 1;
  tally.apiBytes += res.body.length;
  tally.credentialsReloaded ||= res.credentialsReloaded;
  if (res.status === 200) {
    try {
      return JSON.parse(res.body.toString('utf8')) as ListPage;
    } catch {
      throw upstreamNotJson(res.headers['content-type']);
    }
  }
  const failure = failureOf(res, namespace);
  if (res.status === 410 && snapshotRead) throw new ExpiredError(failure.message);
  throw fromApiFailure(failure, api.target.identity);
}
