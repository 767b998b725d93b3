// CloudEvents in and out. Incoming events come binary (ce-* headers: Broker, PingSource, the
// CronJob) or structured (application/cloudevents+json); their attributes are checked against
// CloudEvents 1.0 by event-attributes.ts (the SDK's receive path is wrong in both directions, see
// there). The reply is made by the SDK. Both are loaded on the first event only (the SDK costs
// ~25 ms of import that plain HTTP callers need not pay).
import type { IncomingHttpHeaders } from 'node:http';
import { batchedEvents, unusableEventData } from './errors.ts';
import type { RawQuery } from './request.ts';

export interface IncomingEvent {
  id: string;
  source: string;
  type: string;
  /** The event data as narrowing fields ({namespace, labelSelector, fieldSelector}); {} when empty. */
  query: RawQuery;
  /** The distributed-tracing extension attributes, as sent (trace.ts checks them); absent when not sent. */
  traceparent?: unknown;
  tracestate?: unknown;
}

// cloudevents is CommonJS: depending on the loader its exports arrive named or under default.
const sdk = async (): Promise<typeof import('cloudevents')> => {
  const mod = await import('cloudevents');
  return (mod as unknown as { default?: typeof mod }).default ?? mod;
};

/** A request meant as a CloudEvent: any required ce-* attribute header, or a CloudEvents media type. */
export function isCloudEvent(headers: IncomingHttpHeaders): boolean {
  return ['ce-specversion', 'ce-id', 'ce-source', 'ce-type'].some((h) => headers[h] !== undefined) || mediaType(headers['content-type']).startsWith('application/cloudevents');
}

export async function parseEvent(headers: IncomingHttpHeaders, body: Buffer): Promise<IncomingEvent> {
  const type = mediaType(headers['content-type']);
  if (type === 'application/cloudevents-batch+json') throw batchedEvents();
  const { checkBinary, checkStructured } = await import('./event-attributes.ts');
  const event = type.startsWith('application/cloudevents') ? checkStructured(body) : checkBinary(headers, body);
  const { traceparent, tracestate } = event.extensions;
  return { id: event.id, source: event.source, type: event.type, query: dataAsQuery(event.data, event.datacontenttype), ...(traceparent !== undefined && { traceparent }), ...(tracestate !== undefined && { tracestate }) };
}

/** The reply's source: the Knative Service that answered, as its API path. */
export function replySource(ownNamespace: string | undefined, service: string): string {
  return `/apis/serving.knative.dev/v1/namespaces/${ownNamespace ?? 'default'}/services/${service}`;
}

/** The reply: a binary-mode CloudEvent, which a Knative Broker accepts as a new event. */
/** `extensions`: extension attributes such as traceparent/tracestate (sent as ce-traceparent, ce-tracestate). */
export async function replyMessage(init: { type: string; source: string; subject: string; data: unknown }, extensions: Record<string, string> = {}): Promise<{ headers: Record<string, string>; body: string }> {
  const { CloudEvent, HTTP } = await sdk();
  const reply = new CloudEvent({ ...extensions, ...init, datacontenttype: 'application/json' });
  const message = HTTP.binary(reply);
  return { headers: message.headers as Record<string, string>, body: String(message.body) };
}

/**
 * podcount's data contract. No data (absent, null, empty or blank) counts the whole cluster, as a
 * PingSource tick asks; a JSON object holds the narrowing fields (request.ts refuses fields it does
 * not know). Any other data, valid as it is for CloudEvents (text, XML, bytes, a JSON string, number
 * or array), is refused with bad_event_data: ignoring it would answer a question nobody asked.
 */
function dataAsQuery(data: unknown, datacontenttype: string | undefined): RawQuery {
  const type = mediaType(datacontenttype);
  const json = type === '' || isJson(type);
  let value = data;
  if (Buffer.isBuffer(value) || typeof value === 'string') {
    const text = Buffer.isBuffer(value) ? value.toString('utf8') : value;
    if (text.trim() === '') return {};
    if (!json) throw unusableEventData(`it is ${type} (${JSON.stringify(text.slice(0, 40))})`);
    // Bytes are the JSON text. A JSON string is data too; one holding an object is read as that
    // object, since some senders encode their data twice.
    const parsed = parseJson(text);
    if (typeof data === 'string' && (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))) {
      throw unusableEventData(`it is the JSON string ${JSON.stringify(text.slice(0, 40))}, not an object`);
    }
    if (parsed === undefined) throw unusableEventData(`it is not valid JSON although its media type is ${type || 'unset (JSON)'}`);
    value = parsed;
  }
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw unusableEventData(`it is a JSON ${Array.isArray(value) ? 'array' : typeof value === 'number' ? 'number' : typeof value === 'boolean' ? 'boolean' : 'string'}, not an object`);
  }
  return value as RawQuery;
}

/** The JSON value of text; undefined when it is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function mediaType(header: string | string[] | undefined): string {
  return String(header ?? '').split(';')[0]!.trim().toLowerCase();
}

function isJson(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json') || type === 'text/json';
}
