// The CloudEvents 1.0 rules for an incoming event's context attributes, in binary mode (ce-*
// headers) and structured mode (a JSON object), checked by podcount itself: the SDK's receive path
// is too lenient to trust (it makes up a missing id and specversion, takes an empty header for an
// absent one, accepts empty optional attributes, unknown media types and data next to data_base64)
// and too strict once (its schema refuses optional attributes set to null, which the JSON format
// allows). Every refusal names the attribute. Loaded with the first event, never at start.
import { badEvent } from './errors.ts';

export type Mode = 'binary' | 'structured';

export interface CheckedEvent {
  id: string;
  source: string;
  type: string;
  /** The media type of the data (Content-Type in binary mode), when given. */
  datacontenttype: string | undefined;
  /** Structured `data` as parsed JSON, or the raw bytes (a binary body, a decoded data_base64); undefined: no data. */
  data: unknown;
  /** Extension attributes by name (e.g. traceparent, read by trace.ts), as sent. */
  extensions: Record<string, unknown>;
}

const REQUIRED = ['id', 'source', 'type'] as const;
const OPTIONAL = ['datacontenttype', 'dataschema', 'subject', 'time'] as const;
const CORE = new Set<string>(['specversion', ...REQUIRED, ...OPTIONAL, 'data', 'data_base64']);
// In binary mode datacontenttype is Content-Type and the data is the body.
const BINARY_HEADERS = new Set(['specversion', ...REQUIRED, 'dataschema', 'subject', 'time'].map((a) => `ce-${a}`));
// Names: lowercase ASCII letters and digits only (CloudEvents 1.0, "Attribute Naming Convention").
const ATTRIBUTE_NAME = /^[a-z0-9]+$/;
// RFC 2046/7231 media type: type "/" subtype, then any parameters.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}\\s*(;.*)?$`);
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const INT32 = 2 ** 31;

/** A binary-mode event: attributes from ce-* headers, datacontenttype from Content-Type, data the body. */
export function checkBinary(headers: Record<string, string | string[] | undefined>, body: Buffer): CheckedEvent {
  const at = (name: string): string | undefined => {
    const v = headers[`ce-${name}`];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  specversion(at('specversion'), 'binary');
  const [id, source, type] = REQUIRED.map((name) => required(name, at(name), 'binary'));
  for (const name of ['dataschema', 'subject', 'time'] as const) optional(name, at(name), 'binary');
  const contentType = headers['content-type'];
  const datacontenttype = optional('datacontenttype', Array.isArray(contentType) ? contentType.join(', ') : contentType, 'binary');
  // Every other ce-* header is an extension (ce-data_base64 too: binary data is the body); one
  // whose value is undefined is absent, as for the attributes above.
  const extensions: Record<string, unknown> = {};
  for (const header of Object.keys(headers)) {
    if (header.startsWith('ce-') && !BINARY_HEADERS.has(header) && headers[header] !== undefined) {
      extension(header.slice(3), headers[header], 'binary');
      extensions[header.slice(3)] = headers[header];
    }
  }
  return { id: id!, source: source!, type: type!, datacontenttype, data: body.length > 0 ? body : undefined, extensions };
}

/** A structured-mode event: one JSON object (JSON event format), data in `data` or `data_base64`. */
export function checkStructured(body: Buffer): CheckedEvent {
  let event: unknown;
  try {
    event = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw badEvent('the structured event', `is not JSON (${(err as Error).message})`, 'structured');
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw badEvent('the structured event', `is ${kind(event)}, not a JSON object`, 'structured');
  }
  const e = event as Record<string, unknown>;
  specversion(e['specversion'], 'structured');
  const [id, source, type] = REQUIRED.map((name) => required(name, e[name], 'structured'));
  const [datacontenttype] = OPTIONAL.map((name) => optional(name, e[name], 'structured'));
  const extensions: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(e)) {
    if (CORE.has(name)) continue;
    extension(name, value, 'structured');
    extensions[name] = value;
  }
  const data = e['data'] ?? undefined;
  const data64 = e['data_base64'] ?? undefined;
  if (data !== undefined && data64 !== undefined) {
    throw badEvent('data and data_base64', 'are both set; an event carries its data in one of them', 'structured');
  }
  let decoded: Buffer | undefined;
  if (data64 !== undefined) {
    if (typeof data64 !== 'string' || !BASE64.test(data64)) throw badEvent('data_base64', 'is not a base64 string', 'structured');
    decoded = Buffer.from(data64, 'base64');
  }
  return { id: id!, source: source!, type: type!, datacontenttype, data: decoded ?? data, extensions };
}

function specversion(value: unknown, mode: Mode): void {
  const v = required('specversion', value, mode);
  if (v !== '1.0') throw badEvent('specversion', `${JSON.stringify(v.slice(0, 20))} is not supported: podcount reads CloudEvents 1.0`, mode);
}

function required(name: string, value: unknown, mode: Mode): string {
  if (value === undefined || value === null) throw badEvent(name, 'is missing', mode);
  return nonEmptyString(name, value, mode);
}

/** An optional attribute: absent or null means not set; when set it must be valid. */
function optional(name: (typeof OPTIONAL)[number], value: unknown, mode: Mode): string | undefined {
  if (value === undefined || value === null) return undefined;
  const v = nonEmptyString(name, value, mode);
  const bad = (problem: string) => badEvent(name, `${JSON.stringify(v.slice(0, 64))} ${problem}`, mode);
  if (name === 'datacontenttype' && !MEDIA_TYPE.test(v)) throw bad('is not a media type (RFC 2046), e.g. application/json');
  if (name === 'dataschema' && !ABSOLUTE_URI.test(v)) throw bad('is not an absolute URI');
  if (name === 'time' && !isTimestamp(v)) throw bad('is not an RFC 3339 timestamp');
  return v;
}

function nonEmptyString(name: string, value: unknown, mode: Mode): string {
  if (typeof value !== 'string') throw badEvent(name, `must be a string, not ${kind(value)}`, mode);
  if (value === '') throw badEvent(name, 'is empty', mode);
  return value;
}

/** An extension attribute: a valid name and a CloudEvents type JSON can carry (string, boolean, integer). */
function extension(name: string, value: unknown, mode: Mode): void {
  const what = `extension ${JSON.stringify(name.slice(0, 64))}${mode === 'binary' ? ` (header ce-${name.slice(0, 64)})` : ''}`;
  if (!ATTRIBUTE_NAME.test(name)) throw badEvent(what, 'has an invalid name: attribute names are lowercase letters a-z and digits only', mode);
  const ok = value === null || typeof value === 'string' || typeof value === 'boolean'
    || (typeof value === 'number' && Number.isInteger(value) && value >= -INT32 && value < INT32);
  if (!ok) throw badEvent(what, `must be a string, a boolean or a 32-bit integer, not ${JSON.stringify(value).slice(0, 64)}`, mode);
}

/** What a JSON value is, for messages: "a number", "an object", "null". */
function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** RFC 3339 date-time: seconds and an offset required, every field in range (a leap second allowed). */
export function isTimestamp(value: string): boolean {
  const m = RFC3339.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second, offsetHour = 0, offsetMinute = 0] = m.slice(1).map((x) => (x === undefined ? undefined : Number(x)));
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  return month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth && hour! <= 23 && minute! <= 59 && second! <= 60 && offsetHour <= 23 && offsetMinute <= 59;
}
