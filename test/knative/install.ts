// Knative Serving (and optionally Eventing with the in-memory channel and the MT channel-based
// broker) installed on the test cluster (test/node) from their own config/ YAML, every component
// real and built here: the images from the pinned modules' cmd/ packages (./images.ts), the YAML
// from the modules' config/ folders (./manifests.ts), the test-only changes as the kustomize
// overlay in ./install/. There is no networking layer (none is on the Go module proxy): Routes
// and Knative Services stay not Ready (IngressNotConfigured) while Configurations and Revisions
// become Ready; requests go to a revision's own Service with the Host header
// REVISION.NS.svc.cluster.local, which the activator resolves at zero scale.
import type { BuiltImage } from '../images/images.ts';
import type { NodeCluster } from '../node/node-cluster.ts';
import { waitFor } from '../support/poll.ts';
import { ensureKnativeCommandImages } from './images.ts';
import { render, resolveKo, upstreamFiles, type Obj, type Project } from './manifests.ts';
import { knativeReport } from './report.ts';

export interface KnativeInstall {
  /** Refs of the images imported into the cluster's containerd (pods use them as they are). */
  images: {
    /** The queue-proxy sidecar Serving injects (config-deployment's queue-sidecar-image). */
    queueProxy: string;
    /** Eventing's event_display (a CloudEvents sink that logs what it receives); '' without Eventing. */
    eventDisplay: string;
    /** Every imported image by its ko import path (knative.dev/serving/cmd/activator ...). */
    byImportPath: Record<string, string>;
  };
  /** Seconds from installKnative()'s start to each milestone (images, imported, crds, applied, available, ready). */
  timings: Record<string, number>;
  /** Knative's system namespaces: knative-serving (+ knative-eventing). */
  namespaces: string[];
  /** The cluster's report plus Knative objects' conditions and container log tails (Knative's namespaces and `namespace`). */
  report(namespace?: string): Promise<string>;
}

const AVAILABLE_TIMEOUT_MS = 240_000;
const WEBHOOK_TIMEOUT_MS = 60_000;

/**
 * Builds (or finds) and imports the images, applies the CRDs and waits until they are Established,
 * applies the rest, waits until every Deployment and StatefulSet of Knative's namespaces is
 * available and the admission webhooks answer. Throws with the Knative report on failure.
 */
export async function installKnative(cluster: NodeCluster, o: { eventing: boolean; log?: (line: string) => void }): Promise<KnativeInstall> {
  const log = o.log ?? (() => {});
  const started = performance.now();
  const timings: Record<string, number> = {};
  const mark = (m: string) => { timings[m] = Math.round((performance.now() - started) / 100) / 10; };
  const projects: Project[] = o.eventing ? ['serving', 'eventing'] : ['serving'];
  const namespaces = projects.map((p) => `knative-${p}`);
  const report = (namespace?: string) => knativeReport(cluster, { eventing: o.eventing, ...(namespace ? { namespace } : {}) });

  const built = await ensureKnativeCommandImages(log);
  mark('images');
  const refs = new Map([...built].map(([path, image]) => [path, image.ref]));
  const rendered = await Promise.all(projects.map(async (p) => {
    const { files, version } = await upstreamFiles(p);
    const { yaml, used } = resolveKo(files, version, refs);
    return { project: p, objects: await render(cluster.kubectlPath, p, yaml), used };
  }));
  // What the YAML names, plus event_display for the tests' sinks.
  const wanted = new Set(rendered.flatMap((r) => [...r.used]));
  if (o.eventing) wanted.add('knative.dev/eventing/cmd/event_display');
  const images = [...wanted].map((path) => [path, built.get(path)!] as [string, BuiltImage]);
  try {
    await importAll(cluster, images.map(([, image]) => image));
    mark('imported');
    log(`knative: ${images.length} images imported in ${(timings['imported']! - timings['images']!).toFixed(1)} s`);

    const all = rendered.flatMap((r) => r.objects);
    const crds = all.filter((x) => x.kind === 'CustomResourceDefinition');
    await cluster.apply(toYaml(crds));
    // Objects of a new kind are refused until its CRD is Established.
    await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((c) => `crd/${c.metadata.name}`)]);
    mark('crds');
    for (const r of rendered) await cluster.apply(toYaml(r.objects.filter((x) => x.kind !== 'CustomResourceDefinition')));
    mark('applied');
    let left: string[] = [];
    await waitFor(async () => (left = await notAvailable(cluster, namespaces)).length === 0, {
      timeoutMs: AVAILABLE_TIMEOUT_MS, intervalMs: 250, what: () => `Knative's workloads to be available (not yet: ${left.join(', ')})`,
    });
    mark('available');
    await webhooksAnswer(cluster, o.eventing);
    mark('ready');
    log(`knative: ${projects.join(' + ')} ready in ${timings['ready']} s (${JSON.stringify(timings)})`);
  } catch (err) {
    const text = await report().catch((e: unknown) => `(no report: ${String(e)})`);
    throw new Error(`knative install: ${err instanceof Error ? err.message : String(err)}\n--- knative state ---\n${text}`, { cause: err });
  }
  const byImportPath = Object.fromEntries(images.map(([path, image]) => [path, image.ref]));
  return {
    images: {
      queueProxy: byImportPath['knative.dev/serving/cmd/queue']!,
      eventDisplay: byImportPath['knative.dev/eventing/cmd/event_display'] ?? '',
      byImportPath,
    },
    timings,
    namespaces,
    report,
  };
}

/** ctr imports, two at a time (each unpacks a ~60 MB layer). */
async function importAll(cluster: NodeCluster, images: BuiltImage[]): Promise<void> {
  const queue = [...images];
  await Promise.all([0, 1].map(async () => {
    for (let next = queue.shift(); next; next = queue.shift()) await cluster.importImage(next);
  }));
}

/** Deployments and StatefulSets of the namespaces whose current revision is not fully available. */
async function notAvailable(cluster: NodeCluster, namespaces: string[]): Promise<string[]> {
  const left: string[] = [];
  for (const ns of namespaces) {
    for (const kind of ['deployments', 'statefulsets']) {
      const items = (await cluster.admin.must(`/apis/apps/v1/namespaces/${ns}/${kind}`)).json.items as Obj[];
      for (const w of items) {
        const want = w.spec.replicas ?? 1;
        const s = w.status ?? {};
        const current = s.observedGeneration === w.metadata.generation && (s.updatedReplicas ?? 0) === want && (s.availableReplicas ?? 0) === want
          && (s.replicas ?? 0) === want && (kind === 'statefulsets' || want === 0 || (s.conditions ?? []).some((c: Obj) => c.type === 'Available' && c.status === 'True'));
        if (!current) left.push(`${ns}/${w.metadata.name}`);
      }
    }
  }
  return left;
}

/**
 * The webhooks configure themselves after start (their certificates, then the rules of their
 * webhook configurations): until then objects are admitted without Knative's defaults. A
 * server-side dry run shows when defaulting and validation both happen.
 */
async function webhooksAnswer(cluster: NodeCluster, eventing: boolean): Promise<void> {
  const dryRun = (path: string, body: Obj) => cluster.admin.request(`${path}?dryRun=All`, { method: 'POST', body });
  const ksvc = (env: Obj[]) => ({
    apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'webhook-check', namespace: 'default' },
    spec: { template: { spec: { containers: [{ image: 'localhost/webhook-check:1', env }] } } },
  });
  await waitFor(async () => {
    const defaulted = await dryRun('/apis/serving.knative.dev/v1/namespaces/default/services', ksvc([]));
    // K_SERVICE is reserved: the validating webhook refuses it.
    const refused = await dryRun('/apis/serving.knative.dev/v1/namespaces/default/services', ksvc([{ name: 'K_SERVICE', value: 'x' }]));
    return defaulted.status === 201 && defaulted.json.metadata.annotations?.['serving.knative.dev/creator'] !== undefined
      && refused.status === 400 && /validation\.webhook\.serving\.knative\.dev/.test(refused.json.message);
  }, { timeoutMs: WEBHOOK_TIMEOUT_MS, intervalMs: 250, what: 'Serving\'s webhooks to default and validate a Knative Service' });
  if (!eventing) return;
  await waitFor(async () => {
    const broker = await dryRun('/apis/eventing.knative.dev/v1/namespaces/default/brokers', { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', metadata: { name: 'webhook-check', namespace: 'default' } });
    const trigger = await dryRun('/apis/eventing.knative.dev/v1/namespaces/default/triggers', { apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger', metadata: { name: 'webhook-check', namespace: 'default' }, spec: { broker: 'webhook-check' } });
    return broker.status === 201 && broker.json.metadata.annotations?.['eventing.knative.dev/broker.class'] !== undefined
      && trigger.status === 400 && /webhook\.eventing\.knative\.dev/.test(trigger.json.message);
  }, { timeoutMs: WEBHOOK_TIMEOUT_MS, intervalMs: 250, what: 'Eventing\'s webhooks to default a Broker and refuse a Trigger without subscriber' });
}

function toYaml(objects: Obj[]): string {
  return objects.map((x) => JSON.stringify(x)).join('\n---\n');
}
