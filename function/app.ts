// Everything built once per instance, at cold start: configuration, logger, the cluster
// connection, the coalescer and, when on, the caller checks. Requests only use it; nothing here
// runs per invocation.
import type { CallerAuth } from './caller-auth.ts';
import { Coalescer } from './coalesce.ts';
import type { Resolution } from './cluster.ts';
import type { Config } from './config.ts';
import { countPods, type CountQuery, type CountResult, type Lister } from './count.ts';
import { noClusterConfig } from './errors.ts';
import type { ApiClient } from './kubeapi.ts';
import type { Logger } from './log.ts';
import { MetricsRecorder } from './metrics-recorder.ts';
import { rbacFixFor, serviceAccountOf } from './rbac-advice.ts';
import type { AccessAnswer } from './review.ts';

export interface App {
  config: Config;
  log: Logger;
  /** Undefined when no cluster configuration was found (then `why` says so). */
  api: ApiClient | undefined;
  why: string | undefined;
  notes: string[];
  /** The namespace podcount runs in: what namespace scope counts, and part of the reply's source. */
  ownNamespace: string | undefined;
  count(q: CountQuery): Promise<CountResult>;
  /** What GET /metrics reports: plain numbers, fed per invocation and per read. */
  metrics: MetricsRecorder;
  /**
   * Checks callers (PODCOUNT_AUTH=kubernetes); undefined when everyone who reaches podcount may
   * ask. Loaded in the background at start, so a plain cold start never loads it.
   */
  callerAuth: Promise<CallerAuth> | undefined;
  /** Says once, clearly, whether podcount may list pods (the fix when not), from the access check, and review its callers. */
  warmUp(): Promise<void>;
  close(): void;
}

/** What instance.ts resolved at cold start: the connection and the early access check. */
export interface Instance {
  config: Config;
  resolution: Resolution;
  api: ApiClient | undefined;
  /** The namespace the scope lists (undefined: all of them). */
  scopeNamespace: string | undefined;
  accessCheck: Promise<AccessAnswer> | undefined;
}

export function createApp({ config, resolution, api, scopeNamespace, accessCheck }: Instance, log: Logger): App {
  const why = resolution.ok ? undefined : resolution.why;
  const notes = resolution.ok ? resolution.target.notes : resolution.notes;
  const coalescer = new Coalescer<CountResult>();
  const metrics = new MetricsRecorder();
  // Counts list through this: every answered list request is recorded, failed counts' included.
  const listing: Lister | undefined = api && {
    target: api.target,
    get: (path, accept) => api.get(path, accept).then((res) => (metrics.read(1, res.body.length), res)),
  };
  // A chunk of its own in the bundle: nothing of caller authorization is loaded when it is off.
  const callerAuth = config.auth === 'kubernetes'
    ? import('./caller-auth.ts').then((m) => m.createCallerAuth({ api, why, config, scopeNamespace }))
    : undefined;
  // Awaited by every request; until then a failure must not count as unhandled.
  callerAuth?.catch(() => undefined);
  if (why) log.warn({ notes }, `no cluster configuration: ${why}; counts answer 503 no_cluster_config`);

  /** Says once, clearly, whether podcount may list pods (the fix when not), from the access check. */
  async function mayListPods(): Promise<void> {
    if (!api || !accessCheck) return;
    try {
      const review = await accessCheck;
      if (review.allowed) {
        log.info({ server: api.target.server, source: api.target.source }, `ready: may list pods ${scopeNamespace ? `in namespace ${scopeNamespace}` : 'in all namespaces'}`);
        return;
      }
      const sa = serviceAccountOf(review.username ?? api.target.identity.username);
      log.warn({ reason: review.reason }, sa ? rbacFixFor(sa, scopeNamespace)
        : `${review.username ?? 'podcount'} may not list pods ${scopeNamespace ? `in namespace ${scopeNamespace}` : 'at the cluster scope'}: every count will answer 502 forbidden`);
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'warm-up could not reach the API server; counts will retry on demand');
    }
  }

  return {
    config,
    log,
    api,
    why,
    notes,
    ownNamespace: api?.target.ownNamespace,
    count(q) {
      if (!listing) return Promise.reject(noClusterConfig(why ?? 'unknown'));
      // Every field of the query: queries differing in any never share an answer.
      const key = JSON.stringify([q.namespace ?? null, q.labelSelector ?? null, q.fieldSelector ?? null, q.groupBy ?? null]);
      const { groupBy } = q;
      // A caller whose read function did not run joined another caller's read.
      let readByThisCaller = false;
      const counted = coalescer.run(key, () => {
        readByThisCaller = true;
        // Breakdowns are a chunk of their own: a plain count's cold start never loads them.
        return groupBy
          ? import('./breakdown.ts').then((m) => m.breakdownPods(listing, { ...q, groupBy }, config))
          : countPods(listing, q, config);
      });
      return counted.finally(() => {
        if (!readByThisCaller) metrics.coalesced();
      });
    },
    metrics,
    callerAuth,
    async warmUp() {
      // Whether podcount may review its callers, alongside whether it may list pods.
      const callers = callerAuth?.then((c) => c.warmUp(log));
      await Promise.all([callers, mayListPods()]);
    },
    close() {
      api?.close();
    },
  };
}
