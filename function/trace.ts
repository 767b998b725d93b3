// W3C Trace Context (https://www.w3.org/TR/trace-context/): continue the caller's trace or start
// one, so an invocation's log line and its reply CloudEvent join the trace the caller's mesh,
// Broker or tracer already follows. No tracing SDK: parsing two headers costs nothing at cold start.
//
// A malformed traceparent is ignored and a new trace started, as the spec requires of receivers
// ("MUST ignore ... and create a new trace"), never a 400: the header usually comes from a proxy,
// mesh or Broker the caller does not control, and a broken one must not fail counts. The log line
// says it was ignored (traceparentIgnored), so the broken hop can be found.

/** The context podcount runs an invocation in: its own span, child of the caller's when continued. */
export interface TraceContext {
  traceId: string;
  /** podcount's span for this invocation (fresh, random). */
  spanId: string;
  /** The caller's span, when a valid traceparent came in. */
  parentSpanId: string | undefined;
  /** trace-flags as two hex digits: the caller's (sampled or not), 00 for a trace podcount starts. */
  flags: string;
  /** The caller's tracestate, passed on as is when valid. */
  tracestate: string | undefined;
  /** Why a received traceparent or tracestate was not used (for the log line); undefined when all was used. */
  ignored: string | undefined;
}

export interface ParsedParent {
  traceId: string;
  parentId: string;
  flags: string;
}

/** Where a traceparent may come from, in order of precedence. */
export interface TraceSources {
  /** The HTTP traceparent/tracestate headers: the transport hop. */
  header: { traceparent?: unknown; tracestate?: unknown };
  /** The CloudEvent's distributed-tracing extension attributes (ce-traceparent, or in a structured body). */
  event?: { traceparent?: unknown; tracestate?: unknown } | undefined;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Parses a traceparent. Version 00 must be exactly version-traceid-parentid-flags; a later version
 * is parsed leniently (those four fields, then anything after a '-'), as the spec asks so that old
 * receivers keep traces from newer senders. Version ff, upper case, all-zero ids: undefined.
 */
export function parseTraceparent(value: unknown): ParsedParent | undefined {
  if (typeof value !== 'string') return undefined;
  const version = value.slice(0, 2);
  if (!HEX.test(version) || version === 'ff') return undefined;
  if (version === '00' ? value.length !== 55 : value.length > 55 && value[55] !== '-') return undefined;
  // Fields of these lengths fill the 55 characters only when the first '-' follows the version's two hex digits.
  const [, traceId, parentId, flags] = value.slice(0, 55).split('-');
  if (traceId?.length !== 32 || parentId?.length !== 16 || flags?.length !== 2) return undefined;
  if (!HEX.test(traceId) || !HEX.test(parentId) || !HEX.test(flags)) return undefined;
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  return { traceId, parentId, flags };
}

const MAX_MEMBERS = 32;
const MAX_TRACESTATE = 512;
// key = simple-key / tenant-id "@" system-id; value = printable ASCII without ',' and '=', not ending in a space.
const MEMBER = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** The tracestate as received when it is valid (at most 32 members, 512 characters, unique keys), else undefined. */
export function validTracestate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_TRACESTATE) return undefined;
  const members = value.split(',').map((m) => m.trim()).filter((m) => m !== '');
  if (members.length === 0 || members.length > MAX_MEMBERS) return undefined;
  const keys = new Set<string>();
  for (const member of members) {
    if (!MEMBER.test(member)) return undefined;
    const key = member.slice(0, member.indexOf('='));
    if (keys.has(key)) return undefined;
    keys.add(key);
  }
  return value;
}

/**
 * The invocation's trace. The HTTP header wins over the event's extension attribute: the header
 * is the hop that delivered this request (what Knative's Broker, activator and queue-proxy
 * propagate and what a mesh records), while the extension names the event's origin, which may be
 * several hops back; continuing the header keeps podcount's span under the span that called it.
 * The extension is used when no header came (a sender that only sets ce-traceparent).
 */
export function traceContext({ header, event }: TraceSources): TraceContext {
  const ignored: string[] = [];
  for (const [from, source] of [['header', header], ['event', event]] as const) {
    if (!source || source.traceparent === undefined) continue;
    const parent = parseTraceparent(source.traceparent);
    if (!parent) {
      ignored.push(`${from} traceparent ${JSON.stringify(String(source.traceparent).slice(0, 80))} is not a valid W3C traceparent`);
      continue;
    }
    // tracestate belongs to the traceparent it came with; dropped with it, or alone when invalid.
    const tracestate = validTracestate(source.tracestate);
    if (tracestate === undefined && source.tracestate !== undefined) ignored.push(`${from} tracestate dropped: not a valid W3C tracestate`);
    return { traceId: parent.traceId, spanId: newId(8), parentSpanId: parent.parentId, flags: parent.flags, tracestate, ignored: joined(ignored) };
  }
  return { traceId: newId(16), spanId: newId(8), parentSpanId: undefined, flags: '00', tracestate: undefined, ignored: joined(ignored) };
}

/** podcount's span as a version-00 traceparent: what the reply CloudEvent carries. */
export function childTraceparent(t: TraceContext): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags}`;
}

const joined = (reasons: string[]): string | undefined => (reasons.length ? reasons.join('; ') : undefined);

/** Random lowercase hex of `bytes` bytes, never all zero (an invalid id). */
function newId(bytes: number): string {
  for (;;) {
    const id = Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
    if (/[^0]/.test(id)) return id;
  }
}
