// `npm run dev`: a real control plane on loopback, podcount's own RBAC and ServiceAccount from
// knative/, 32 pods across a few namespaces, a bound token for the podcount account, and the
// function started on its in-cluster path against it. Prints curl lines; Ctrl-C tears it all down.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ControlPlane } from './controlplane.ts';
import { FunctionProcess } from './function-process.ts';
import { setUpServiceAccount } from './identity.ts';
import { applyManifests, parseManifests } from './manifests.ts';
import { createNamespace } from './namespaces.ts';
import { createPods } from './pods.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PODS: Record<string, number> = { podcount: 2, shop: 12, payments: 8, 'kube-system': 10 };

const started = Date.now();
console.log('podcount dev: starting etcd and kube-apiserver on loopback...');
const cp = await ControlPlane.start();
let fn: FunctionProcess | undefined;
let cleanupIdentity: (() => void) | undefined;
let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('\npodcount dev: stopping the function and the control plane...');
  await fn?.stop();
  cleanupIdentity?.();
  await cp.stop();
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  // The same ServiceAccount and least-privilege RBAC a real deployment applies.
  const base = join(ROOT, 'knative', 'base');
  const rbac = ['namespace.yaml', 'serviceaccount.yaml', 'rbac.yaml'].flatMap((file) => parseManifests(readFileSync(join(base, file), 'utf8')));
  await applyManifests(cp, rbac);
  for (const [ns, n] of Object.entries(PODS)) {
    await createNamespace(cp, ns);
    await createPods(cp, ns, n, { labels: { app: ns === 'shop' ? 'cart' : 'demo' } });
  }
  const sa = await setUpServiceAccount(cp, 'podcount', 'podcount', 'none');
  cleanupIdentity = sa.cleanup;
  fn = await FunctionProcess.start({ env: { ...sa.env, PORT: process.env['PORT'] ?? '8080', PODCOUNT_LOG_LEVEL: 'info' } });
  fn.child.stdout?.pipe(process.stdout);
  fn.child.stderr?.pipe(process.stderr);
  const u = fn.url;
  console.log(`
podcount dev: ready in ${((Date.now() - started) / 1000).toFixed(1)} s
  API server      ${cp.url}   (admin kubeconfig: ${cp.kubeconfigPath})
  ServiceAccount  podcount/podcount, token + ca.crt + namespace in ${sa.dir}
  function        ${u}   (node dist/main.mjs, in-cluster path)

Try:
  curl -s ${u}/
  curl -s -H 'Accept: text/plain' ${u}/
  curl -s '${u}/?namespace=shop&labelSelector=app%3Dcart'
  curl -s -i -X POST ${u}/ -H 'ce-specversion: 1.0' -H 'ce-id: 1' -H 'ce-source: /dev/curl' \\
       -H 'ce-type: dev.podcount.count.requested' -H 'content-type: application/json' -d '{"namespace":"payments"}'
  curl -s ${u}/diagnostics
  ${cp.binaries.kubectl} --kubeconfig ${cp.kubeconfigPath} get pods -A

Ctrl-C stops everything.
`);
  await fn.exited;
  await shutdown(1);
} catch (err) {
  console.error(err);
  await shutdown(1);
}
