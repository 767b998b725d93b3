// Deploys the shipped knative/ (or one of its overlays) to the test cluster as a user would, with
// `kubectl apply -k`: a kustomization made at run time whose resource is the shipped folder, with
// the images substituted and the patches in knative-overlay/ (see its README for why each).
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { NodeCluster } from '../node/node-cluster.ts';
import { waitFor } from '../support/poll.ts';

const KNATIVE = resolve(import.meta.dirname, '..', '..', 'knative');
const PATCHES = join(import.meta.dirname, 'knative-overlay');

export interface DeployOptions {
  podcountImage: string;
  curlImage: string;
  /** Eventing's event_display as imported (installKnative(...).images.eventDisplay): the Broker's dead-letter sink. */
  eventDisplayImage: string;
  /** A folder under knative/ ('' for knative/ itself, 'overlays/namespace-scoped', ...). */
  variant?: string;
  /** Deploy into this namespace instead of `podcount` (kustomize's namespace transformer). */
  namespace?: string;
}

/** The kustomization, rendered (what `kubectl kustomize` prints), for inspection and apply. */
export async function renderPodcount(cluster: NodeCluster, o: DeployOptions): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'podcount-kustomize-'));
  try {
    const namespace = o.namespace ?? 'podcount';
    for (const f of readdirSync(PATCHES).filter((f) => f.endsWith('.yaml'))) {
      writeFileSync(join(dir, f), readFileSync(join(PATCHES, f), 'utf8').replaceAll('NAMESPACE', namespace));
    }
    const [repo, tag] = splitRef(o.podcountImage);
    const [curlRepo, curlTag] = splitRef(o.curlImage);
    const [displayRepo, displayTag] = splitRef(o.eventDisplayImage);
    writeFileSync(join(dir, 'kustomization.yaml'), JSON.stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      // Relative: kustomize refuses an absolute path for a base.
      resources: [relative(dir, join(KNATIVE, o.variant ?? ''))],
      ...(o.namespace ? { namespace: o.namespace } : {}),
      images: [
        { name: 'ghcr.io/podcount/podcount', newName: repo, newTag: tag },
        { name: 'docker.io/curlimages/curl', newName: curlRepo, newTag: curlTag },
        { name: 'gcr.io/knative-releases/knative.dev/eventing/cmd/event_display', newName: displayRepo, newTag: displayTag },
      ],
      patches: [
        { path: 'trigger-subscriber.yaml', target: { kind: 'Trigger' } },
        { path: 'cronjob-target.yaml', target: { kind: 'CronJob', name: 'podcount-ping' } },
        { path: 'pingsource-schedule.yaml', target: { kind: 'PingSource', name: 'podcount-ping' } },
      ],
    }, null, 2));
    copyFileSync(join(PATCHES, 'README.md'), join(dir, 'README.md'));
    return await cluster.kubectl(['kustomize', dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function deployPodcount(cluster: NodeCluster, o: DeployOptions): Promise<string> {
  return cluster.apply(await renderPodcount(cluster, o));
}

function splitRef(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return [ref.slice(0, i), ref.slice(i + 1)];
}

/** Waits until Knative has run podcount's first revision in `namespace` and its readiness probe passed. */
export async function revisionReady(cluster: NodeCluster, namespace: string): Promise<void> {
  const path = `/apis/serving.knative.dev/v1/namespaces/${namespace}/revisions/podcount-00001`;
  await waitFor(async () => {
    const conditions = ((await cluster.admin.request(path)).json?.status?.conditions ?? []) as Array<{ type: string; status: string }>;
    return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
  }, { timeoutMs: 240_000, intervalMs: 250, what: `revision ${namespace}/podcount-00001 Ready` });
}

/** `kubectl create job --from=cronjob/podcount-ping`, waited for; its log (curl's answer). */
export async function runPingJob(cluster: NodeCluster, job: string, namespace = 'podcount'): Promise<string> {
  await cluster.kubectl(['-n', namespace, 'create', 'job', '--from=cronjob/podcount-ping', job]);
  await cluster.kubectl(['-n', namespace, 'wait', '--for=condition=Complete', `job/${job}`, '--timeout=180s']);
  return cluster.kubectl(['-n', namespace, 'logs', `job/${job}`]);
}
