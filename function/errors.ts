// Every failure podcount answers with is a PodcountError: a stable code, an HTTP status, a message
// that says what happened and a hint that says what to do. Upstream responses are mapped here,
// in one place, so the same API failure always reads the same way. Call sites use the named
// constructors below rather than building errors themselves.
import type { Identity } from './cluster.ts';
import { callerGrantFor, rbacFixFor, reviewsFixFor, serviceAccountOf, tokenAdvice, type ServiceAccountRef, type TokenProblem } from './rbac-advice.ts';

export interface ErrorBody {
  error: { code: string; message: string; hint: string };
}

export class PodcountError extends Error {
  readonly code: string;
  readonly status: number;
  readonly hint: string;
  /** Seconds, sent as Retry-After so brokers and curl --retry back off. */
  readonly retryAfter: number | undefined;
  /** Extra response headers this answer needs (Allow on a 405). */
  readonly headers: Record<string, string> = {};
  /** More about the cause for podcount's own log line (e.g. the TokenReview's error); never sent. */
  detail: string | undefined;

  constructor(status: number, code: string, message: string, hint: string, retryAfter?: number) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
    this.retryAfter = retryAfter;
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, hint: this.hint } };
  }
}

export const badRequest = (code: string, message: string, hint: string): PodcountError =>
  new PodcountError(400, code, message, hint);

// CloudEvents in (event.ts, event-attributes.ts).

const EVENT_HINTS = {
  binary: 'A binary-mode CloudEvent needs the headers ce-specversion: 1.0, ce-id, ce-source and ce-type, none empty; ce-time, if sent, an RFC 3339 timestamp (2026-11-23T06:50:00Z); Content-Type a media type; extension headers ce-<lowercase letters and digits>.',
  structured: 'A structured CloudEvent (Content-Type: application/cloudevents+json) is one JSON object with specversion "1.0" and non-empty string id, source and type; optional attributes are strings or null (time an RFC 3339 timestamp); extensions are named with lowercase letters and digits and hold strings, booleans or integers; data or data_base64, not both.',
} as const;

/** Not a valid CloudEvent: the message names the attribute at fault (and the header, in binary mode). */
export function badEvent(attribute: string, problem: string, mode: 'binary' | 'structured'): PodcountError {
  const header = mode === 'binary' && /^[a-z]+$/.test(attribute) ? ` (header ${attribute === 'datacontenttype' ? 'Content-Type' : `ce-${attribute}`})` : '';
  return new PodcountError(400, 'bad_event', `Not a valid CloudEvent: ${attribute}${header} ${problem}.`, EVENT_HINTS[mode]);
}

export function batchedEvents(): PodcountError {
  return new PodcountError(400, 'bad_event', 'Batched CloudEvents are not supported.', 'Send one event per request, in binary or structured mode.');
}

/**
 * A valid CloudEvent whose data podcount cannot use: its data contract is "nothing" (count the
 * cluster) or a JSON object of narrowing fields. Anything else is refused rather than ignored, so a
 * sender never takes a whole-cluster count for an answer to what it meant to ask.
 */
export function unusableEventData(what: string): PodcountError {
  return new PodcountError(400, 'bad_event_data', `The event is a valid CloudEvent, but podcount cannot use its data: ${what}.`,
    'podcount reads event data as a JSON object of narrowing fields: send no data to count the whole cluster, or e.g. {"namespace":"default","labelSelector":"app=web","fieldSelector":"status.phase=Running"} with datacontenttype (binary mode: Content-Type) application/json.');
}

/** A non-2xx answer from the API server, as the transport saw it. */
export interface ApiFailure {
  status: number;
  /** Status.message when the body was a Status object, else the first bytes of the text. */
  message: string;
  reason?: string;
  retryAfter?: number;
  /** The request was for one namespace (RBAC fix is a RoleBinding there) or the cluster. */
  namespace?: string;
}

const DEFAULT_RETRY_AFTER = 2;

export function fromApiFailure(f: ApiFailure, who: Identity): PodcountError {
  if (f.status === 400) {
    return badRequest('bad_selector', `The API server rejected the query: ${f.message}`,
      'Check labelSelector and fieldSelector syntax, e.g. labelSelector=app%3Dweb or fieldSelector=status.phase%3DRunning (pods support metadata.name, metadata.namespace, spec.nodeName, spec.restartPolicy, spec.schedulerName, spec.serviceAccountName, status.phase, status.podIP, status.nominatedNodeName).');
  }
  if (f.status === 401) return unauthenticated(who, f.message);
  if (f.status === 403) return forbidden(who, f);
  if (f.status === 410) {
    return unavailable(`The list kept expiring while podcount paged through it (${f.message}).`,
      'The cluster is compacting etcd faster than podcount can page; retry, or raise PODCOUNT_PAGE_SIZE.', f.retryAfter);
  }
  if (f.status === 429) {
    return unavailable(`The API server is throttling requests: ${f.message}`,
      'API Priority and Fairness rejected the list; it will succeed after Retry-After seconds.', f.retryAfter);
  }
  if (f.status >= 500) {
    return unavailable(`The API server failed with ${f.status}: ${f.message}`,
      'The control plane is unhealthy or restarting (etcd unavailable?). Retry after Retry-After seconds.', f.retryAfter);
  }
  return new PodcountError(502, 'upstream_error', `The API server answered ${f.status}: ${f.message}`,
    'This answer is unexpected for a pod list; GET /diagnostics shows what podcount can see.');
}

/** A 200 list answer that is not JSON: something between podcount and the API server rewrote it. */
export function upstreamNotJson(contentType: string | undefined): PodcountError {
  return new PodcountError(502, 'upstream_error', `The API server sent a list that is not JSON (${contentType ?? 'no content type'}).`,
    'Is KUBERNETES_SERVICE_HOST pointing at a real API server (not a proxy that rewrites answers)?');
}

/** A 200 list answer without what a breakdown reads from it (a server that prints pods differently). */
export function upstreamUnexpected(what: string): PodcountError {
  return new PodcountError(502, 'upstream_error', `The API server sent ${what}.`,
    'Breakdowns read what kube-apiserver 1.29+ prints for pods; count without groupBy, and check the server version on GET /diagnostics.');
}

/** groupBy names something podcount cannot group by. */
export function badGroupBy(value: string, from: string, choices: readonly string[]): PodcountError {
  return badRequest('bad_parameter', `${from} groupBy ${JSON.stringify(value.slice(0, 80))} is not one of ${choices.join(', ')}.`,
    `groupBy is one of ${choices.join(', ')}, e.g. ?groupBy=${choices[0]}; omit it for the plain count.`);
}

export function unavailable(message: string, hint: string, retryAfter?: number): PodcountError {
  return new PodcountError(503, 'cluster_unavailable', message, hint, retryAfter ?? DEFAULT_RETRY_AFTER);
}

/** A connection-level failure: refused, reset, timed out, TLS. */
export function fromNetworkError(err: unknown, server: string, caPath: string | undefined): PodcountError {
  const code = (err as { code?: string }).code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ETIMEDOUT' || code === 'ABORT_ERR' || code === 'UND_ERR_HEADERS_TIMEOUT' || /timed? ?out/i.test(message)) {
    return unavailable(`The API server at ${server} did not answer in time.`,
      'The control plane is overloaded or unreachable; raise PODCOUNT_API_TIMEOUT_MS for very large clusters.');
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|altnames/i.test(code + message)) {
    return unavailable(`TLS to ${server} failed: ${message}`,
      caPath
        ? `podcount verifies the API server with ${caPath}; it must hold the cluster CA (the kube-root-ca.crt ConfigMap). Is the pod's projected volume intact?`
        : 'Check the certificate-authority of the current kubeconfig cluster.');
  }
  return unavailable(`Cannot reach the API server at ${server}: ${code || message}`,
    'Is the control plane up, and does a NetworkPolicy allow egress from this pod to the kubernetes Service?');
}

function unauthenticated(who: Identity, message: string): PodcountError {
  const hint = who.source === 'in-cluster'
    ? `The token in ${who.tokenPath} was not accepted (${message}). It is expired, revoked (its ServiceAccount or bound pod was deleted) or from another cluster. Mount the projected token Kubernetes rotates (leave automountServiceAccountToken unset or true, do not copy tokens into Secrets), and check that the ServiceAccount${accountName(who.username)} still exists. GET /diagnostics shows the token's expiry.`
    : `The credentials of kubeconfig ${who.kubeconfig ?? ''} were not accepted (${message}). Refresh them (e.g. log in again) and retry.`;
  return new PodcountError(502, 'unauthenticated', 'The API server does not accept podcount\'s credentials (401 Unauthorized).', hint);
}

function forbidden(who: Identity, f: ApiFailure): PodcountError {
  const user = /User "([^"]+)"/.exec(f.message)?.[1] ?? who.username;
  const sa = user ? serviceAccountOf(user) : undefined;
  return new PodcountError(502, 'forbidden', f.message || 'The API server forbids listing pods (403).',
    sa ? rbacFixFor(sa, f.namespace) : `Grant ${user ?? 'this identity'} "list" on "pods"${f.namespace ? ` in namespace ${f.namespace}` : ' at the cluster scope'}.`);
}

function accountName(username: string | undefined): string {
  if (!username) return '';
  const sa = serviceAccountOf(username);
  return ` ${sa ? `${sa.namespace}/${sa.name}` : username}`;
}

// Callers checked by podcount (PODCOUNT_AUTH=kubernetes, caller-auth.ts).

/** 401: the caller sent no token podcount can accept. RFC 6750 asks for WWW-Authenticate. */
export function callerUnauthenticated(problem: TokenProblem, audiences: string[], facts: { sa?: ServiceAccountRef | undefined; tokenAudiences?: string[] | undefined; expiresAt?: string | undefined } = {}): PodcountError {
  const messages: Record<TokenProblem, string> = {
    missing: 'No Authorization: Bearer token: podcount answers only callers it can check.',
    malformed: 'The Authorization header is not "Bearer <token>".',
    audience: `The token is for audience ${(facts.tokenAudiences ?? []).map((a) => JSON.stringify(a)).join(', ') || '(none)'}, not one podcount accepts (${audiences.map((a) => JSON.stringify(a)).join(', ')}).`,
    expired: `The token expired${facts.expiresAt ? ` at ${facts.expiresAt}` : ''}.`,
    rejected: 'The API server does not accept the token (TokenReview).',
  };
  const err = new PodcountError(401, 'caller_unauthenticated', messages[problem], tokenAdvice(problem, audiences, facts));
  err.headers['www-authenticate'] = `Bearer realm="podcount"${problem === 'missing' ? '' : ', error="invalid_token"'}`;
  return err;
}

/** 403: the API server says this caller may not make the list it asked podcount for (its own words). */
export function callerForbidden(username: string, namespace: string | undefined, reason: string | undefined): PodcountError {
  const where = namespace ? `in the namespace ${JSON.stringify(namespace)}` : 'at the cluster scope';
  return new PodcountError(403, 'caller_forbidden',
    `pods is forbidden: User ${JSON.stringify(username)} cannot list resource "pods" in API group "" ${where}${reason ? `: ${reason}` : ''}`,
    callerGrantFor(username, namespace));
}

/** A TokenReview or SubjectAccessReview the API server refused or could not answer: never a count. */
export function fromReviewFailure(f: ApiFailure, who: Identity, resource: 'tokenreviews' | 'subjectaccessreviews'): PodcountError {
  if (f.status === 403) {
    return new PodcountError(502, 'forbidden', f.message || `podcount may not create ${resource} (403).`, reviewsFixFor(serviceAccountOf(who.username)));
  }
  if (f.status === 401 || f.status === 429 || f.status >= 500) return callerCheckUnavailable(fromApiFailure(f, who));
  return new PodcountError(502, 'upstream_error', `The API server answered ${f.status} to a ${resource} request: ${f.message}`,
    'podcount cannot check callers against this API server (authentication.k8s.io/v1 and authorization.k8s.io/v1 are needed); GET /diagnostics with PODCOUNT_AUTH=none shows what it can see.');
}

/**
 * The caller could not be checked because the API server did not answer (down, throttling,
 * timing out): 503 with Retry-After, so a Broker retries. podcount's own 401 stays a 502.
 */
export function callerCheckUnavailable(cause: PodcountError): PodcountError {
  if (cause.status !== 503) return cause;
  return unavailable(`podcount could not check the caller: ${cause.message}`, `${cause.hint} No count is given without that check.`, cause.retryAfter);
}

export function noClusterConfig(why: string): PodcountError {
  return new PodcountError(503, 'no_cluster_config', `podcount has no cluster to talk to: ${why}`,
    'In a pod: keep the ServiceAccount token mounted (automountServiceAccountToken must not be false) and KUBERNETES_SERVICE_HOST/PORT set. Outside: set KUBECONFIG or create ~/.kube/config. GET /diagnostics shows what was looked at.');
}

/** The request target is neither an origin-form path nor an absolute URL. */
export function badRequestTarget(target: string): PodcountError {
  return new PodcountError(400, 'bad_request', `The request target ${JSON.stringify(target.slice(0, 100))} is not a URL path.`,
    'Send GET / or POST / (optionally with ?namespace=...).');
}

export function notFound(path: string): PodcountError {
  return new PodcountError(404, 'not_found', `Nothing at ${JSON.stringify(path.slice(0, 100))}.`, 'podcount answers /, /healthz and /diagnostics.');
}

/** A 405 that says, in its Allow header too, which methods the path answers. */
export function methodNotAllowed(allow: string): PodcountError {
  const err = new PodcountError(405, 'method_not_allowed', `This path answers ${allow}.`,
    'GET / counts pods; POST / takes a CloudEvent; GET /diagnostics explains the setup.');
  err.headers['allow'] = allow;
  return err;
}

export function notAcceptable(accept: string | undefined): PodcountError {
  return new PodcountError(406, 'not_acceptable', `Cannot answer in ${JSON.stringify(accept)}.`, 'Accept application/json (the default) or text/plain.');
}

export function bodyTooLarge(limit: number): PodcountError {
  return new PodcountError(413, 'body_too_large', `The request body is larger than ${limit} bytes.`,
    'podcount needs no more than a small CloudEvent; send the narrowing fields only (PODCOUNT_MAX_BODY_BYTES sets the limit).');
}

export function unreadableBody(err: Error): PodcountError {
  return new PodcountError(400, 'bad_request', `The request body could not be read: ${err.message}`, 'Send the request again.');
}

/** The last resort for a bug in podcount itself: a 500 that says so, never a crash. */
export function internal(err: unknown): PodcountError {
  return new PodcountError(500, 'internal', `podcount failed unexpectedly: ${err instanceof Error ? err.message : String(err)}`,
    'This is a bug in podcount; the request can be retried. Please report it with the log line.');
}
