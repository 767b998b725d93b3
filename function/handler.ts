// The request path: route -> parse -> count -> respond, and one log line per invocation.
// It never throws: every failure becomes a JSON error with a status, so no request can crash the
// process (seed 000 crash-looped on its first 403).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { App } from './app.ts';
import { readBody } from './body.ts';
import { diagnose } from './diagnose.ts';
import { internal, PodcountError } from './errors.ts';
import { isCloudEvent, parseEvent, replyMessage, type IncomingEvent } from './event.ts';
import { fromSearchParams, negotiate, toCountQuery, type RawQuery } from './request.ts';
import { send, sendError, sendJson, sentence, toAnswer } from './respond.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** Fields for the invocation's log line, filled in as the request goes. */
type LogFields = Record<string, unknown>;

export function createHandler(app: App): Handler {
  return async (req, res) => {
    const started = performance.now();
    // The path as sent, capped: a log line must stay a line whatever a caller sends.
    const fields: LogFields = { method: req.method, path: (req.url ?? '/').split('?')[0]!.slice(0, 200) };
    const trace = traceId(req.headers['traceparent']);
    if (trace) fields['traceId'] = trace;
    let status = 500;
    try {
      status = await route(app, req, res, fields);
    } catch (err) {
      const e = err instanceof PodcountError ? err : internal(err);
      if (!(err instanceof PodcountError)) app.log.error({ err }, 'unexpected failure while answering');
      sendError(res, e);
      status = e.status;
      fields['error'] = e.code;
    }
    fields['status'] = status;
    fields['durationMs'] = Math.round((performance.now() - started) * 10) / 10;
    // Readiness probes arrive every few hundred ms; they are not invocations.
    if (fields['path'] === '/healthz') app.log.debug(fields, 'probe');
    else app.log.info(fields, 'invocation');
  };
}

async function route(app: App, req: IncomingMessage, res: ServerResponse, fields: LogFields): Promise<number> {
  const url = requestTarget(req.url);
  const method = req.method ?? 'GET';
  switch (url.pathname) {
    case '/healthz':
      if (method !== 'GET' && method !== 'HEAD') throw notAllowed('GET, HEAD');
      sendJson(res, 200, { status: 'ok' });
      return 200;
    case '/diagnostics':
      if (!app.config.diagnostics) throw notFound(url.pathname);
      if (method !== 'GET' && method !== 'HEAD') throw notAllowed('GET, HEAD');
      sendJson(res, 200, await diagnose(app));
      return 200;
    case '/':
      if (method === 'OPTIONS') return webhookOptions(req, res);
      if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') throw notAllowed('GET, HEAD, POST, OPTIONS');
      return count(app, req, res, url, fields);
    default:
      throw notFound(url.pathname);
  }
}

async function count(app: App, req: IncomingMessage, res: ServerResponse, url: URL, fields: LogFields): Promise<number> {
  const raw = fromSearchParams(url.searchParams);
  let event: IncomingEvent | undefined;
  if (req.method === 'POST') {
    const body = await readBody(req, app.config.maxBodyBytes);
    if (isCloudEvent(req.headers)) {
      event = await parseEvent(req.headers, body);
      Object.assign(fields, { eventId: event.id, eventType: event.type, eventSource: event.source });
    }
  }
  const format = event ? 'json' : negotiate(req.headers['accept']);
  if (!format) {
    throw new PodcountError(406, 'not_acceptable', `Cannot answer in ${JSON.stringify(req.headers['accept'])}.`, 'Accept application/json (the default) or text/plain.');
  }
  const query = toCountQuery(event ? merge(raw, event.query) : raw, app.config, app.namespace, event ? 'event data' : 'query');
  const reloads = app.api?.stats.credentialReloads ?? 0;
  const result = await app.count(query);
  // A rotated token noticed on a 401 and recovered from: worth a line, since the old one was revoked.
  if ((app.api?.stats.credentialReloads ?? 0) > reloads) fields['credentialsReloaded'] = true;
  const answer = toAnswer(query, result, new Date());
  Object.assign(fields, { count: answer.count, scope: answer.scope, namespace: answer.namespace, strategy: result.strategy, apiRequests: result.apiRequests, apiBytes: result.apiBytes });
  if (query.labelSelector) fields['labelSelector'] = query.labelSelector;
  if (query.fieldSelector) fields['fieldSelector'] = query.fieldSelector;

  if (event) {
    const reply = await replyMessage({
      type: app.config.replyType,
      source: `/apis/serving.knative.dev/v1/namespaces/${app.namespace ?? 'default'}/services/${app.config.service}`,
      subject: answer.scope,
      data: { ...answer, inResponseTo: { id: event.id, source: event.source, type: event.type } },
    });
    fields['replyId'] = reply.headers['ce-id'];
    send(res, 200, reply.headers, reply.body);
  } else if (format === 'text') {
    send(res, 200, { 'content-type': 'text/plain; charset=utf-8' }, `${sentence(answer)}\n`);
  } else {
    sendJson(res, 200, answer);
  }
  return 200;
}

/** Query-string and event-data narrowing together, unless they contradict each other. */
function merge(fromUrl: RawQuery, fromEvent: RawQuery): RawQuery {
  for (const [key, value] of Object.entries(fromEvent)) {
    if (fromUrl[key] !== undefined && value !== undefined && value !== null && fromUrl[key] !== value) {
      throw new PodcountError(400, 'bad_parameter', `${key} is ${JSON.stringify(fromUrl[key])} in the URL but ${JSON.stringify(value)} in the event data.`, `Give ${key} in one place.`);
    }
  }
  return { ...fromUrl, ...Object.fromEntries(Object.entries(fromEvent).filter(([, v]) => v !== undefined && v !== null)) };
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
function requestTarget(target = '/'): URL {
  try {
    return target.startsWith('/') ? new URL(`http://podcount.invalid${target}`) : new URL(target);
  } catch {
    throw new PodcountError(400, 'bad_request', `The request target ${JSON.stringify(target.slice(0, 100))} is not a URL path.`, 'Send GET / or POST / (optionally with ?namespace=...).');
  }
}

function notAllowed(allow: string): PodcountError {
  const err = new PodcountError(405, 'method_not_allowed', `This path answers ${allow}.`, 'GET / counts pods; POST / takes a CloudEvent; GET /diagnostics explains the setup.');
  err.headers['allow'] = allow;
  return err;
}

function notFound(path: string): PodcountError {
  return new PodcountError(404, 'not_found', `Nothing at ${JSON.stringify(path.slice(0, 100))}.`, 'podcount answers /, /healthz and /diagnostics.');
}

function traceId(traceparent: string | string[] | undefined): string | undefined {
  const m = typeof traceparent === 'string' ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/.exec(traceparent) : null;
  return m?.[1];
}
