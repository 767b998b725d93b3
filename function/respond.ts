// Writing answers: the count as JSON or a sentence, errors in one JSON shape. Plain node:http
// calls, so the same code serves podcount's own server and the functions-framework's express.
import type { ServerResponse } from 'node:http';
import type { CountQuery, CountResult, GroupBy, Strategy } from './count.ts';
import { scopeOf } from './count.ts';
import type { PodcountError } from './errors.ts';

export interface CountAnswer {
  count: number;
  scope: 'cluster' | 'namespace';
  namespace: string | null;
  labelSelector: string | null;
  fieldSelector: string | null;
  resourceVersion: string;
  countedAt: string;
  strategy: Strategy;
  /** Breakdowns only: what the pods are grouped by, and the pods in each group (summing to count). */
  groupBy?: GroupBy;
  groups?: Record<string, number>;
}

export function toAnswer(q: CountQuery, r: CountResult, countedAt: Date): CountAnswer {
  return {
    count: r.count,
    scope: scopeOf(q),
    namespace: q.namespace ?? null,
    labelSelector: q.labelSelector ?? null,
    fieldSelector: q.fieldSelector ?? null,
    resourceVersion: r.resourceVersion,
    countedAt: countedAt.toISOString(),
    strategy: r.strategy,
    ...(q.groupBy && r.groups ? { groupBy: q.groupBy, groups: r.groups } : {}),
  };
}

/** "There are 32 pods in the cluster", narrowed the way the query was. */
export function sentence(a: CountAnswer): string {
  const verb = a.count === 1 ? 'There is 1 pod' : `There are ${a.count} pods`;
  const where = a.namespace === null ? 'in the cluster' : `in namespace ${JSON.stringify(a.namespace)}`;
  const filters = [a.labelSelector && `labels ${a.labelSelector}`, a.fieldSelector && `fields ${a.fieldSelector}`].filter(Boolean);
  return `${verb}${filters.length ? ` matching ${filters.join(' and ')}` : ''} ${where}`;
}

/** The text/plain body: the sentence, and for a breakdown an aligned table of its groups, largest first. */
export function textAnswer(a: CountAnswer): string {
  const { groupBy, groups } = a;
  if (!groupBy || !groups) return `${sentence(a)}\n`;
  // By name, then (a stable sort) by size: the largest first, ties in name order.
  const rows = Object.keys(groups).sort().map((name): [string, number] => [name, groups[name]!]).sort(([, m], [, n]) => n - m);
  const head = groupBy.toUpperCase();
  const width = Math.max(head.length, 'TOTAL'.length, ...rows.map(([name]) => name.length));
  const digits = Math.max('PODS'.length, String(a.count).length);
  const line = (name: string, n: number | string) => `${name.padEnd(width)}  ${String(n).padStart(digits)}`;
  return [`${sentence(a)}, by ${groupBy}:`, line(head, 'PODS'), ...rows.map(([name, n]) => line(name, n)), line('TOTAL', a.count), ''].join('\n');
}

export function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'cache-control': 'no-store', ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, { 'content-type': 'application/json; charset=utf-8', ...headers }, `${JSON.stringify(value)}\n`);
}

export function sendError(res: ServerResponse, err: PodcountError, headers: Record<string, string> = {}): void {
  const extra: Record<string, string> = { ...err.headers, ...headers };
  if (err.retryAfter !== undefined) extra['retry-after'] = String(err.retryAfter);
  // After a 413 the rest of the body was not read; the connection cannot be reused.
  if (err.status === 413) extra['connection'] = 'close';
  sendJson(res, err.status, err.toBody(), extra);
}
