// What the caller asks for, validated before any API call: the query (from the URL, event data or
// both) and the answer format. Every rejection is a 400 that names the bad input and a fix.
import type { Config } from './config.ts';
import { GROUP_BYS, type CountQuery, type GroupBy } from './count.ts';
import { badGroupBy, badRequest, noClusterConfig } from './errors.ts';

const PARAMETERS = ['namespace', 'labelSelector', 'fieldSelector', 'groupBy'] as const;
const EXAMPLES: Record<Parameter, string> = { namespace: 'default', labelSelector: 'app=web', fieldSelector: 'status.phase=Running', groupBy: 'namespace' };
type Parameter = (typeof PARAMETERS)[number];
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_SELECTOR = 4096;

/** Narrowing fields as given by the caller, before validation. */
export type RawQuery = Partial<Record<string, unknown>>;

export function fromSearchParams(params: URLSearchParams): RawQuery {
  const raw: RawQuery = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    if (values.length > 1) {
      throw badRequest('bad_parameter', `Parameter ${key} is given ${values.length} times.`,
        key === 'groupBy' ? `Give groupBy once: one of ${GROUP_BYS.join(', ')}.` : `Give ${key} once.`);
    }
    raw[key] = values[0];
  }
  return raw;
}

/** Query-string and event-data narrowing together, unless they contradict each other. */
export function mergeQueries(fromUrl: RawQuery, fromEvent: RawQuery): RawQuery {
  const given = Object.entries(fromEvent).filter(([, v]) => v !== undefined && v !== null);
  for (const [key, value] of given) {
    if (fromUrl[key] !== undefined && fromUrl[key] !== value) {
      throw badRequest('bad_parameter', `${key} is ${JSON.stringify(fromUrl[key])} in the URL but ${JSON.stringify(value)} in the event data.`, `Give ${key} in one place.`);
    }
  }
  return { ...fromUrl, ...Object.fromEntries(given) };
}

/** Validates a raw query against the configured scope; `from` names the input in messages. */
export function toCountQuery(raw: RawQuery, config: Config, ownNamespace: string | undefined, from: string): CountQuery {
  for (const key of Object.keys(raw)) {
    if (!(PARAMETERS as readonly string[]).includes(key)) {
      throw badRequest('unknown_parameter', `Unknown ${from} field ${JSON.stringify(key)}.`,
        `podcount understands ${PARAMETERS.join(', ')}; e.g. ?namespace=default&labelSelector=app%3Dweb&groupBy=phase.`);
    }
  }
  const value = (key: Parameter): string | undefined => {
    const v = raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw badRequest('bad_parameter', `${from} field ${key} must be a string, got ${typeof v}.`, `Send ${key} as a string, e.g. ${JSON.stringify(EXAMPLES[key])}.`);
    return v;
  };
  const namespace = value('namespace');
  const labelSelector = selector(value('labelSelector'), 'labelSelector');
  const fieldSelector = selector(value('fieldSelector'), 'fieldSelector');
  const groupBy = grouping(value('groupBy'), from);
  if (namespace !== undefined) {
    if (namespace === '') throw badRequest('bad_namespace', 'namespace is empty.', 'Omit namespace to count the whole cluster, or name one, e.g. namespace=default.');
    if (namespace.length > 63 || !DNS1123_LABEL.test(namespace)) {
      throw badRequest('bad_namespace', `namespace ${JSON.stringify(namespace.slice(0, 80))} is not a valid namespace name.`,
        'A namespace is a DNS-1123 label: at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit.');
    }
  }
  if (config.scope === 'namespace') {
    if (!ownNamespace) throw noClusterConfig('PODCOUNT_SCOPE=namespace but podcount does not know its own namespace (the ServiceAccount volume carries it in the namespace file)');
    if (namespace !== undefined && namespace !== ownNamespace) {
      throw badRequest('namespace_not_allowed', `This podcount counts only its own namespace ${JSON.stringify(ownNamespace)} (PODCOUNT_SCOPE=namespace).`,
        `Omit namespace, or deploy podcount with cluster scope (a ClusterRoleBinding) to count ${namespace}.`);
    }
    return withGroupBy({ namespace: ownNamespace, labelSelector, fieldSelector }, groupBy);
  }
  return withGroupBy({ namespace, labelSelector, fieldSelector }, groupBy);
}

/** A plain count's query has no groupBy key at all: its shape is as before breakdowns existed. */
function withGroupBy(q: CountQuery, groupBy: GroupBy | undefined): CountQuery {
  return groupBy ? { ...q, groupBy } : q;
}

function grouping(v: string | undefined, from: string): GroupBy | undefined {
  if (v === undefined) return undefined;
  if (!(GROUP_BYS as readonly string[]).includes(v)) throw badGroupBy(v, from, GROUP_BYS);
  return v as GroupBy;
}

function selector(v: string | undefined, name: string): string | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  if (v.length > MAX_SELECTOR) throw badRequest('bad_selector', `${name} is longer than ${MAX_SELECTOR} characters.`, `Shorten ${name}.`);
  // Control characters cannot be part of any selector; reject them before they reach a URL or a log.
  if (/[\u0000-\u001f\u007f]/.test(v)) throw badRequest('bad_selector', `${name} contains control characters.`, `Send ${name} as plain text, e.g. app=web,tier!=cache.`);
  return v;
}

/** JSON unless the caller prefers text/plain; undefined when it accepts neither (406). */
export function negotiate(accept: string | undefined): 'json' | 'text' | undefined {
  if (!accept || accept.trim() === '') return 'json';
  let json = 0;
  let text = 0;
  let jsonSpecific = -1;
  let textSpecific = -1;
  for (const part of accept.split(',')) {
    // HTTP allows spaces around ";" (RFC 9110 OWS): "text/plain ; q=0.5" is text/plain.
    const [type, ...params] = part.toLowerCase().split(';').map((p) => p.trim());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam ? Math.min(1, Math.max(0, Number(qParam.slice(2)) || 0)) : 1;
    if (type === 'application/json') jsonSpecific = Math.max(jsonSpecific, q);
    else if (type === 'text/plain') textSpecific = Math.max(textSpecific, q);
    else if (type === '*/*') { json = Math.max(json, q); text = Math.max(text, q); }
    else if (type === 'application/*') json = Math.max(json, q);
    else if (type === 'text/*') text = Math.max(text, q);
  }
  if (jsonSpecific >= 0) json = jsonSpecific;
  if (textSpecific >= 0) text = textSpecific;
  if (json === 0 && text === 0) return undefined;
  return text > json ? 'text' : 'json';
}
