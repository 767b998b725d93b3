// The per-process connection to the cluster, created when this module is first imported, before
// the rest of podcount loads: main.ts imports it first, so the permission check's TCP and TLS
// handshake with the API server overlap with loading the logger and the handler instead of
// following them.
import { resolveCluster, type Resolution } from './cluster.ts';
import { loadConfig, type Config } from './config.ts';
import { KubeApi } from './kubeapi.ts';
import { accessReview, type AccessAnswer } from './review.ts';

export const config: Config = loadConfig();
export const resolution: Resolution = await resolveCluster(config);
export const api: KubeApi | undefined = resolution.ok ? new KubeApi(resolution.target, config.apiTimeoutMs) : undefined;

/** The namespace whose pods the configured scope needs to list (undefined: all of them). */
export const scopeNamespace = config.scope === 'namespace' ? api?.target.ownNamespace : undefined;

/** "May I list pods?", asked at once; it also opens the keep-alive connection the first count reuses. */
export const accessCheck: Promise<AccessAnswer> | undefined = api ? accessReview(api, scopeNamespace) : undefined;
// Read later by app.warmUp(); until then a failure must not count as unhandled.
accessCheck?.catch(() => undefined);
