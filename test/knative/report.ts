// What a person needs to see when a Knative step failed, beyond the cluster's own report (nodes,
// pods, events, component logs): every Knative object's conditions, and the last log lines of
// each container in Knative's namespaces and in the test's namespace.
import type { NodeCluster } from '../node/node-cluster.ts';
import type { Obj } from './manifests.ts';

const SERVING_KINDS = [
  'services.serving.knative.dev', 'configurations.serving.knative.dev', 'revisions.serving.knative.dev', 'routes.serving.knative.dev',
  'podautoscalers.autoscaling.internal.knative.dev', 'serverlessservices.networking.internal.knative.dev',
  'ingresses.networking.internal.knative.dev', 'certificates.networking.internal.knative.dev',
];
const EVENTING_KINDS = [
  'brokers.eventing.knative.dev', 'triggers.eventing.knative.dev', 'inmemorychannels.messaging.knative.dev',
  'subscriptions.messaging.knative.dev', 'pingsources.sources.knative.dev',
];
const LOG_LINES = 15;
const LINE_CHARS = 400;

/** One line per condition: `Kind ns/name Type=Status Reason: message`. */
export function conditionLines(objects: Obj[]): string[] {
  return objects.flatMap((o) => {
    const head = `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
    const conditions = (o.status?.conditions ?? []) as Array<{ type: string; status: string; reason?: string; message?: string }>;
    if (!conditions.length) return [`${head} (no conditions yet)`];
    return conditions.map((c) => `${head} ${c.type}=${c.status}${c.reason ? ` ${c.reason}` : ''}${c.message ? `: ${c.message}` : ''}`);
  });
}

export async function knativeReport(cluster: NodeCluster, o: { eventing: boolean; namespace?: string }): Promise<string> {
  const parts = [await cluster.report(o.namespace).catch((e: unknown) => `(no cluster report: ${String(e)})`)];
  const section = async (title: string, f: () => Promise<string>) => {
    parts.push(`## ${title}\n${(await f().catch((e: unknown) => `(${e instanceof Error ? e.message : String(e)})`)).trimEnd()}`);
  };
  const kinds = [...SERVING_KINDS, ...(o.eventing ? EVENTING_KINDS : [])];
  await section('Knative objects\' conditions', async () => {
    const list = JSON.parse(await cluster.kubectl(['get', kinds.join(','), '-A', '-o', 'json'])) as { items: Obj[] };
    return conditionLines(list.items).join('\n') || '(none)';
  });
  const namespaces = ['knative-serving', ...(o.eventing ? ['knative-eventing'] : []), ...(o.namespace ? [o.namespace] : [])];
  for (const ns of namespaces) {
    const pods = (await cluster.admin.request(`/api/v1/namespaces/${ns}/pods`)).json?.items as Obj[] | undefined;
    for (const pod of pods ?? []) {
      for (const c of pod.spec.containers as Array<{ name: string }>) {
        await section(`${ns}/${pod.metadata.name} ${c.name} log (last ${LOG_LINES} lines)`, async () => {
          const out = await cluster.kubectl(['logs', '-n', ns, pod.metadata.name, '-c', c.name, `--tail=${LOG_LINES}`]);
          return out.split('\n').map((l) => (l.length > LINE_CHARS ? `${l.slice(0, LINE_CHARS)}…` : l)).join('\n');
        });
      }
    }
  }
  return parts.join('\n\n');
}
