// The request path: route -> check the caller (when on) -> parse -> authorize -> count -> respond,
// and one log line per invocation.
// It never throws: every failure becomes a JSON error with a status, so no request can crash the
// process (the client-go program that listed every pod crash-looped on its first 403).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { App } from './app.ts';
import { readBody } from './body.ts';
import type { CallerAuth, CheckedCaller } from './caller-auth.ts';
import { diagnose } from './diagnose.ts';
import { badRequestTarget, internal, methodNotAllowed, notAcceptable, notFound, PodcountError } from './errors.ts';
import { isCloudEvent, parseEvent, replyMessage, replySource, type IncomingEvent } from './event.ts';
import { fromSearchParams, mergeQueries, negotiate, toCountQuery } from './request.ts';
import { send, sendError, sendJson, textAnswer, toAnswer } from './respond.ts';
import { childTraceparent, traceContext, type TraceContext } from './trace.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** Fields for the invocation's log line, filled in as the request goes. */
type LogFields = Record<string, unknown>;

export function createHandler(app: App): Handler {
  return async (req, res) => {
    const started = performance.now();
    // The path as sent, capped: a log line must stay a line whatever a caller sends. (A server's
    // request always has a url and a method; node's type leaves them optional for client responses.)
    const fields: LogFields = { method: req.method, path: req.url!.split('?')[0]!.slice(0, 200) };
    // The HTTP header's trace now; once a CloudEvent is parsed, again with its extension (used when the header is absent or invalid).
    const header = { traceparent: req.headers['traceparent'], tracestate: req.headers['tracestate'] };
    traced(fields, traceContext({ header }));
    const retrace = (event: IncomingEvent): TraceContext => traced(fields, traceContext({ header, event }));
    let status = 500;
    try {
      status = await route(app, req, res, fields, retrace);
    } catch (err) {
      const e = err instanceof PodcountError ? err : internal(err);
      if (!(err instanceof PodcountError)) app.log.error({ err }, 'unexpected failure while answering');
      sendError(res, e);
      status = e.status;
      fields['error'] = e.code;
      if (e.detail) fields['errorDetail'] = e.detail.slice(0, 300);
    }
    fields['status'] = status;
    const ms = performance.now() - started;
    fields['durationMs'] = Math.round(ms * 10) / 10;
    // Readiness probes arrive every few hundred ms and scrapes every few seconds; they are not invocations.
    if (fields['path'] === '/healthz' || (fields['path'] === '/metrics' && status === 200)) app.log.debug(fields, fields['path'] === '/healthz' ? 'probe' : 'scrape');
    else {
      app.metrics.invocation(status, fields['strategy'] as string | undefined, ms / 1000);
      app.log.info(fields, 'invocation');
    }
  };
}

/** A caller checked by caller-auth.ts, and the checker (PODCOUNT_AUTH=kubernetes). */
interface Checked {
  auth: CallerAuth;
  caller: CheckedCaller;
}

/** Switches the invocation to the event's trace when the event carries one and no header did. */
type Retrace = (event: IncomingEvent) => TraceContext;

async function route(app: App, req: IncomingMessage, res: ServerResponse, fields: LogFields, retrace: Retrace): Promise<number> {
  const url = requestTarget(req.url!);
  const method = req.method!;
  // Every request but the readiness probe comes from a caller the API server vouches for, when asked to.
  const checked = url.pathname === '/healthz' ? undefined : await checkCaller(app, req, fields);
  switch (url.pathname) {
    case '/healthz':
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
      sendJson(res, 200, { status: 'ok' });
      return 200;
    case '/diagnostics': {
      if (!app.config.diagnostics) throw notFound(url.pathname);
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
      // What podcount shows about itself is for callers who may list everything it lists.
      if (checked) await checked.auth.authorize(checked.caller, checked.auth.scopeQuestion);
      const report = await diagnose(app);
      // Callers are checked only with PODCOUNT_AUTH=kubernetes, whose auth report names the caller.
      if (checked) Object.assign(report.auth, { caller: checked.caller.username });
      sendJson(res, 200, report);
      return 200;
    }
    case '/metrics': {
      if (!app.config.metrics) throw notFound(url.pathname);
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
      // The last counts of every scope: for callers who may list everything podcount lists.
      if (checked) await checked.auth.authorize(checked.caller, checked.auth.scopeQuestion);
      // Its own chunk, with prom-client: loaded by the first scrape, never by a cold start.
      const { exposition } = await import('./metrics-text.ts');
      const { contentType, body } = await exposition(app.metrics);
      send(res, 200, { 'content-type': contentType }, body);
      return 200;
    }
    case '/':
      if (method === 'OPTIONS') return webhookOptions(req, res);
      if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') throw methodNotAllowed('GET, HEAD, POST, OPTIONS');
      return count(app, req, res, url, fields, checked, retrace);
    default:
      throw notFound(url.pathname);
  }
}

/** The caller behind the request's token (its name goes in the log line); undefined when callers are not checked. */
async function checkCaller(app: App, req: IncomingMessage, fields: LogFields): Promise<Checked | undefined> {
  if (!app.callerAuth) return undefined;
  const auth = await app.callerAuth;
  const caller = await auth.authenticate(req.headers['authorization']);
  fields['user'] = caller.username;
  return { auth, caller };
}

async function count(app: App, req: IncomingMessage, res: ServerResponse, url: URL, fields: LogFields, checked: Checked | undefined, retrace: Retrace): Promise<number> {
  const raw = fromSearchParams(url.searchParams);
  let event: (IncomingEvent & { trace: TraceContext }) | undefined;
  if (req.method === 'POST') {
    const body = await readBody(req, app.config.maxBodyBytes);
    if (isCloudEvent(req.headers)) {
      const parsed = await parseEvent(req.headers, body);
      Object.assign(fields, { eventId: parsed.id, eventType: parsed.type, eventSource: parsed.source });
      event = { ...parsed, trace: retrace(parsed) };
    }
  }
  const format = event ? 'json' : negotiate(req.headers['accept']);
  if (!format) throw notAcceptable(req.headers['accept']);
  const query = toCountQuery(event ? mergeQueries(raw, event.query) : raw, app.config, app.ownNamespace, event ? 'event data' : 'query');
  // Exactly the list the count makes: a caller never learns more than it could list itself.
  if (checked) await checked.auth.authorize(checked.caller, query);
  const result = await app.count(query);
  // A rotated token noticed on a 401 and recovered from: worth a line, since the old one was revoked.
  if (result.credentialsReloaded) fields['credentialsReloaded'] = true;
  const answer = toAnswer(query, result, new Date());
  // Fields left undefined (no selector, no groupBy) are left out of the line.
  Object.assign(fields, {
    count: answer.count, scope: answer.scope, namespace: answer.namespace, strategy: result.strategy, apiRequests: result.apiRequests, apiBytes: result.apiBytes,
    labelSelector: query.labelSelector, fieldSelector: query.fieldSelector, groupBy: query.groupBy,
  });
  if (!query.labelSelector && !query.fieldSelector) app.metrics.counted(query.namespace, answer.count, new Date(answer.countedAt));

  if (event) {
    const reply = await replyMessage({
      type: app.config.replyType,
      source: replySource(app.ownNamespace, app.config.service),
      subject: answer.scope,
      data: { ...answer, inResponseTo: { id: event.id, source: event.source, type: event.type } },
    }, replyTrace(event.trace));
    fields['replyId'] = reply.headers['ce-id'];
    send(res, 200, reply.headers, reply.body);
  } else if (format === 'text') {
    send(res, 200, { 'content-type': 'text/plain; charset=utf-8' }, textAnswer(answer));
  } else {
    sendJson(res, 200, answer);
  }
  return 200;
}

/** CloudEvents webhook validation: senders may ask with OPTIONS whether they may deliver. */
function webhookOptions(req: IncomingMessage, res: ServerResponse): number {
  const headers: Record<string, string> = { allow: 'GET, HEAD, POST, OPTIONS' };
  const origin = req.headers['webhook-request-origin'];
  if (typeof origin === 'string') {
    headers['webhook-allowed-origin'] = origin;
    headers['webhook-allowed-rate'] = '*';
  }
  send(res, 204, headers, '');
  return 204;
}

/** The request target as a URL: origin-form ("/x?y", even "//x") or absolute-form. */
function requestTarget(target: string): URL {
  try {
    return target.startsWith('/') ? new URL(`http://podcount.invalid${target}`) : new URL(target);
  } catch {
    throw badRequestTarget(target);
  }
}

/** The trace's ids in the log line (replacing an earlier trace's), and whether a received one was ignored. */
function traced(fields: LogFields, t: TraceContext): TraceContext {
  fields['traceId'] = t.traceId;
  fields['spanId'] = t.spanId;
  fields['parentSpanId'] = t.parentSpanId;
  fields['traceparentIgnored'] = t.ignored;
  return t;
}

/** The reply CloudEvent's distributed-tracing extension: a child of the caller's span, podcount's span as parent. */
function replyTrace(t: TraceContext): Record<string, string> {
  return t.tracestate === undefined ? { traceparent: childTraceparent(t) } : { traceparent: childTraceparent(t), tracestate: t.tracestate };
}
