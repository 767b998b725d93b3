// What the end-to-end tests run on the test cluster, built from the shipped manifests:
// - podcount: knative/base's Namespace, ServiceAccount and RBAC as they are, and the container
//   of knative/base/service.yaml run by a Deployment and a Service, the way Knative's revision
//   reconciler would run it (until Knative itself runs on the test cluster);
// - a client pod (test/images' client) from which requests come, as from any workload.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

const KNATIVE = join(import.meta.dirname, '..', '..', 'knative');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function yamlFile(path: string): Obj[] {
  return parseAllDocuments(readFileSync(join(KNATIVE, path), 'utf8')).map((d) => d.toJSON() as Obj).filter(Boolean);
}

/** knative/base's Namespace, ServiceAccount, ClusterRole and ClusterRoleBinding, unchanged. */
export function baseObjects(): Obj[] {
  return ['base/namespace.yaml', 'base/serviceaccount.yaml', 'base/rbac.yaml'].flatMap(yamlFile);
}

/**
 * knative/base/service.yaml's revision template as a Deployment + Service named `name`, with the
 * image substituted. What Knative adds or moves, and only that, is done here as Knative does it:
 * PORT and K_SERVICE in the environment, the readiness probe's port (Knative fills in the
 * container port), `timeoutSeconds` as the termination grace period, `containerConcurrency`
 * dropped (queue-proxy enforces it), and a ClusterIP Service on port 80 like the Route's.
 */
export function podcountDeployment(o: { image: string; namespace?: string; name?: string; serviceAccountName?: string | null; env?: Record<string, string> }): Obj[] {
  const ksvc = parse(readFileSync(join(KNATIVE, 'base/service.yaml'), 'utf8')) as Obj;
  const namespace = o.namespace ?? ksvc['metadata'].namespace;
  const name = o.name ?? ksvc['metadata'].name;
  const template = structuredClone(ksvc['spec'].template) as Obj;
  const spec = template['spec'];
  const container = spec.containers[0];
  container.image = o.image;
  container.env = [
    ...(container.env ?? []),
    { name: 'PORT', value: '8080' },
    { name: 'K_SERVICE', value: name },
    ...Object.entries(o.env ?? {}).map(([k, v]) => ({ name: k, value: v })),
  ];
  container.readinessProbe.httpGet.port = 8080;
  spec.terminationGracePeriodSeconds = spec.timeoutSeconds;
  delete spec.timeoutSeconds;
  delete spec.containerConcurrency;
  // null: the seed's mistake, the namespace's `default` account.
  if (o.serviceAccountName === null) delete spec.serviceAccountName;
  else if (o.serviceAccountName) spec.serviceAccountName = o.serviceAccountName;
  const labels = { 'app.kubernetes.io/name': name };
  return [
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace, labels },
      spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels: { ...template['metadata']?.labels, ...labels } }, spec } },
    },
    {
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, labels },
      spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    },
  ];
}

/** knative/base/service.yaml as it is, but for the name and the image (the bench's floor runs the same spec). */
export function knativeService(o: { image: string; name: string }): Obj {
  const ksvc = parse(readFileSync(join(KNATIVE, 'base/service.yaml'), 'utf8')) as Obj;
  ksvc['metadata'].name = o.name;
  ksvc['spec'].template.spec.containers[0].image = o.image;
  return ksvc;
}

/** A long-running pod that requests come from: restricted, no API token of its own. */
export function clientPod(o: { image: string; namespace: string; name?: string }): Obj {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: o.name ?? 'client', namespace: o.namespace, labels: { app: 'e2e-client' } },
    spec: {
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{
        name: 'client', image: o.image, imagePullPolicy: 'Never',
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
      }],
    },
  };
}

/** A restricted pod of the pause image, to make the cluster's pod count move. */
export function pausePod(o: { image: string; namespace: string; name: string; labels?: Record<string, string> }): Obj {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: o.name, namespace: o.namespace, labels: o.labels ?? {} },
    spec: {
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      securityContext: { runAsNonRoot: true, runAsUser: 65535, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'pause', image: o.image, imagePullPolicy: 'Never', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  };
}

export function toYaml(objects: Obj[]): string {
  return objects.map((o) => JSON.stringify(o)).join('\n---\n');
}
