// Breakdowns (groupBy=namespace|phase|node): how many of the counted pods are in each namespace,
// phase or node, with the total equal to the plain count of the same snapshot. Each method was
// chosen by measurement at 1k/10k/100k pods (`npm run bench -- breakdown`, README Performance);
// none needs more than `list pods`, and memory holds one page plus one number per group.
// - node: one pass over Table rows without objects, reading the printer's "Node" column
//   (~190 B a pod, the cheapest representation there is; spec.nodeName field selectors would
//   need `list nodes` and one walk of every pod per node).
// - namespace: one pass over metadata-only pages, reading metadata.namespace (a Table row names
//   no namespace), in pages of at most 500: a metadata page is ~1 KB a pod, and the page is what
//   podcount holds. One namespace asked: the plain count, a single limit=1 read when unfiltered.
// - phase: one count per phase, plus one for pods in none of them, each pinned to the snapshot of
//   the first (resourceVersion=RV&resourceVersionMatch=Exact), so the groups partition that
//   snapshot. The Table "Status" column is not the phase, and reading status means whole objects
//   (~1.9 KB a pod); a status.phase field selector costs the server a walk but sends only matches.
// Only groups with pods are reported: a caller learns nothing its own list of pods would not show.
import { countOnce, fetchPage, listPath, restartingOnExpiry, type CountOptions, type CountQuery, type CountResult, type GroupBy, type Lister, type ListPage, type Representation, type Strategy, type Tally } from './count.ts';
import { upstreamUnexpected } from './errors.ts';

/** The group of pods not bound to a node, as kubectl and the Table printer show it. */
export const NO_NODE = '<none>';
/** The group of pods whose phase is none of the five (the API does not forbid one). */
export const OTHER_PHASE = '<other>';
export const PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;

/** Metadata items per page: bounds the memory a namespace breakdown holds (bench/breakdown.ts). */
const METADATA_PAGE = 500;

const METHODS: Record<GroupBy, Strategy> = { namespace: 'namespace-metadata-pages', phase: 'phase-field-selectors', node: 'node-table-column' };

type Grouped = Pick<CountResult, 'count' | 'resourceVersion' | 'strategy' | 'groups'>;

export function breakdownPods(api: Lister, q: CountQuery & { groupBy: GroupBy }, opts: CountOptions): Promise<CountResult> {
  return restartingOnExpiry(api, opts, (tally) => {
    switch (q.groupBy) {
      case 'node': return byNode(api, q, opts, tally);
      case 'namespace': return byNamespace(api, q, opts, tally);
      case 'phase': return byPhase(api, q, opts, tally);
    }
  });
}

/** Adds to a group; the Map stays as large as the number of groups, whatever the number of pods. */
export class GroupCounter {
  readonly #groups = new Map<string, number>();
  #total = 0;

  add(name: string, n = 1): void {
    if (n <= 0) return;
    this.#groups.set(name, (this.#groups.get(name) ?? 0) + n);
    this.#total += n;
  }

  get total(): number {
    return this.#total;
  }

  /** Groups sorted by name, by UTF-16 code unit as `sort()` does (stable output; `sort | uniq -c` order). */
  toRecord(): Record<string, number> {
    return Object.fromEntries([...this.#groups.keys()].sort().map((name) => [name, this.#groups.get(name)!]));
  }
}

/** One consistent pass over the query's pods, page by page; `onPage` reads each page and drops it. */
async function walk(api: Lister, q: CountQuery, pageSize: number, tally: Tally, representation: Representation, onPage: (page: ListPage) => void): Promise<string> {
  const { base, namespace } = listPath(q);
  let resourceVersion = '';
  let cont: string | undefined;
  do {
    const params = new URLSearchParams({ limit: String(pageSize) });
    if (q.labelSelector) params.set('labelSelector', q.labelSelector);
    if (q.fieldSelector) params.set('fieldSelector', q.fieldSelector);
    if (cont) params.set('continue', cont);
    if (representation === 'table') params.set('includeObject', 'None');
    const page = await fetchPage(api, `${base}?${params}`, representation, namespace, cont !== undefined, tally);
    onPage(page);
    resourceVersion ||= page.metadata?.resourceVersion ?? '';
    cont = page.metadata?.continue || undefined;
  } while (cont);
  return resourceVersion;
}

async function byNode(api: Lister, q: CountQuery, opts: CountOptions, tally: Tally): Promise<Grouped> {
  const groups = new GroupCounter();
  let column = -1;
  const resourceVersion = await walk(api, q, opts.pageSize, tally, 'table', (page) => {
    const rows = page.rows ?? [];
    if (page.columnDefinitions) column = page.columnDefinitions.findIndex((c) => c.name === 'Node');
    if (rows.length > 0 && column < 0) throw upstreamUnexpected('a pod Table without a "Node" column');
    for (const row of rows) {
      const cell = (row as { cells?: unknown[] }).cells?.[column];
      groups.add(typeof cell === 'string' && cell !== '' ? cell : NO_NODE);
    }
  });
  return { count: groups.total, resourceVersion, strategy: METHODS.node, groups: groups.toRecord() };
}

async function byNamespace(api: Lister, q: CountQuery, opts: CountOptions, tally: Tally): Promise<Grouped> {
  const { namespace } = listPath(q);
  if (namespace !== undefined) {
    // One namespace: its plain count is the whole breakdown.
    const counted = await countOnce(api, q, opts, tally);
    return { ...counted, groups: counted.count > 0 ? { [namespace]: counted.count } : {} };
  }
  const groups = new GroupCounter();
  const resourceVersion = await walk(api, q, Math.min(opts.pageSize, METADATA_PAGE), tally, 'metadata', (page) => {
    // A metadata-only list with nothing in it says "items": null.
    for (const item of page.items ?? []) {
      const ns = (item as { metadata?: { namespace?: unknown } }).metadata?.namespace;
      if (typeof ns !== 'string') throw upstreamUnexpected('a pod without metadata.namespace in a metadata-only list');
      groups.add(ns);
    }
  });
  return { count: groups.total, resourceVersion, strategy: METHODS.namespace, groups: groups.toRecord() };
}

/** The field selectors that partition pods by phase: one per phase, and the rest. */
export function phaseSelectors(fieldSelector: string | undefined): Array<[string, string]> {
  const and = (term: string) => (fieldSelector ? `${fieldSelector},${term}` : term);
  return [
    ...PHASES.map((p): [string, string] => [p, and(`status.phase=${p}`)]),
    [OTHER_PHASE, and(PHASES.map((p) => `status.phase!=${p}`).join(','))],
  ];
}

async function byPhase(api: Lister, q: CountQuery, opts: CountOptions, tally: Tally): Promise<Grouped> {
  const groups = new GroupCounter();
  let resourceVersion: string | undefined;
  // Sequential: the first read fixes the snapshot the others are pinned to.
  for (const [name, fieldSelector] of phaseSelectors(q.fieldSelector)) {
    const counted = await countOnce(api, { ...q, fieldSelector }, opts, tally, resourceVersion);
    resourceVersion ??= counted.resourceVersion;
    groups.add(name, counted.count);
  }
  return { count: groups.total, resourceVersion: resourceVersion ?? '', strategy: METHODS.phase, groups: groups.toRecord() };
}
