// CloudEvents in and out. Incoming events come binary (ce-* headers: Broker, PingSource, the
// CronJob) or structured (application/cloudevents+json). The SDK is loaded on the first event only
// (it costs ~25 ms of import that plain HTTP callers need not pay), and its gaps are closed here:
// it does not validate on receive, matches content types by exact string, silently replaces a bad
// ce-time and decodes data_base64 into a Uint32Array (sdk-javascript #643).
import type { IncomingHttpHeaders } from 'node:http';
import type { CloudEvent, CloudEventV1 } from 'cloudevents';
import { badRequest } from './errors.ts';
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

export function isCloudEvent(headers: IncomingHttpHeaders): boolean {
  return headers['ce-specversion'] !== undefined || headers['ce-id'] !== undefined || mediaType(headers['content-type']).startsWith('application/cloudevents');
}

export async function parseEvent(headers: IncomingHttpHeaders, body: Buffer): Promise<IncomingEvent> {
  const type = mediaType(headers['content-type']);
  if (type === 'application/cloudevents-batch+json') {
    throw badRequest('bad_event', 'Batched CloudEvents are not supported.', 'Send one event per request, in binary or structured mode.');
  }
  const structured = type.startsWith('application/cloudevents');
  if (!structured && headers['ce-time'] !== undefined && !isTimestamp(String(headers['ce-time']))) {
    throw badRequest('bad_event', `ce-time ${JSON.stringify(String(headers['ce-time']).slice(0, 64))} is not an RFC 3339 timestamp.`, 'Send ce-time like 2026-11-23T06:50:00Z, or leave it out.');
  }
  const { HTTP } = await sdk();
  // The SDK only recognises a handful of exact content-type strings; give it the bare media type.
  const normalized: IncomingHttpHeaders = { ...headers };
  if (structured) normalized['content-type'] = 'application/cloudevents+json';
  else if (isJson(type)) normalized['content-type'] = 'application/json';
  let event: CloudEventV1<unknown>;
  try {
    const parsed = HTTP.toEvent({ headers: normalized, body: body.length > 0 ? body.toString('utf8') : undefined });
    if (Array.isArray(parsed)) throw new Error('a batch of events');
    if (structured) checkStructuredTime(body);
    // validate() throws on schema errors but merely returns false for an unknown specversion.
    if (!(parsed as CloudEvent<unknown>).validate()) throw new Error(`specversion ${JSON.stringify(parsed.specversion)} is not supported (use 1.0)`);
    event = parsed;
  } catch (err) {
    throw badRequest('bad_event', `Not a valid CloudEvent: ${describe(err)}.`,
      'A binary event needs ce-specversion: 1.0, ce-id, ce-source and ce-type headers; a structured one a JSON body with specversion, id, source and type (Content-Type: application/cloudevents+json).');
  }
  return { id: event.id, source: event.source, type: event.type, query: dataAsQuery(event.data, type), ...tracing(event) };
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

/** The distributed-tracing extension (ce-traceparent / ce-tracestate) when the event has it. */
function tracing(event: CloudEventV1<unknown>): Pick<IncomingEvent, 'traceparent' | 'tracestate'> {
  const found: Pick<IncomingEvent, 'traceparent' | 'tracestate'> = {};
  if (event['traceparent'] !== undefined) found.traceparent = event['traceparent'];
  if (event['tracestate'] !== undefined) found.tracestate = event['tracestate'];
  return found;
}

function dataAsQuery(data: unknown, contentType: string): RawQuery {
  let value = data;
  if (ArrayBuffer.isView(value)) value = Buffer.from(Array.from(value as unknown as ArrayLike<number>)).toString('utf8');
  if (typeof value === 'string') {
    if (value.trim() === '') return {};
    if (contentType !== '' && !isJson(contentType)) throw dataError();
    try {
      value = JSON.parse(value);
    } catch {
      throw dataError();
    }
  }
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw dataError();
  return value as RawQuery;
}

const dataError = () => badRequest('bad_event', 'The event data must be empty or a JSON object.',
  'Send no data to count the whole cluster, or data like {"namespace":"default","labelSelector":"app=web"} with Content-Type: application/json.');

function mediaType(header: string | string[] | undefined): string {
  return String(header ?? '').split(';')[0]!.trim().toLowerCase();
}

function isJson(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json') || type === 'text/json';
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function isTimestamp(value: string): boolean {
  return RFC3339.test(value) && !Number.isNaN(Date.parse(value));
}

function checkStructuredTime(body: Buffer): void {
  const time = (JSON.parse(body.toString('utf8')) as { time?: unknown }).time;
  if (time !== undefined && (typeof time !== 'string' || !isTimestamp(time))) throw new Error(`time ${JSON.stringify(time)} is not an RFC 3339 timestamp`);
}

function describe(err: unknown): string {
  const errors = (err as { errors?: unknown[] }).errors;
  if (Array.isArray(errors) && errors.length > 0) {
    return errors.map((e) => {
      const { instancePath, message } = e as { instancePath?: string; message?: string };
      return `${instancePath ? instancePath.replace(/^\//, '') + ' ' : ''}${message ?? String(e)}`;
    }).join('; ');
  }
  return err instanceof Error ? err.message : String(err);
}
