// Reading /metrics in tests: parse-prometheus-text-format (the prom2json shape), so what podcount
// serves is checked by a parser other than the library that wrote it.
import parse from 'parse-prometheus-text-format';

export interface Family {
  name: string;
  help: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }>;
}

export function parseMetrics(text: string): Map<string, Family> {
  return new Map((parse(text) as Family[]).map((f) => [f.name, f]));
}

/** The value of one sample: the family's sample whose labels include `labels`; 0 when there is none. */
export function sample(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  if (!family) throw new Error(`no metric ${name} in ${[...families.keys()].join(', ')}`);
  const found = family.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return found.reduce((sum, m) => sum + Number(m.value ?? m.count), 0);
}
