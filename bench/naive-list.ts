// The seeds' method, as a TypeScript user writes it with client-node: list every pod through the
// in-cluster configuration and count the items. Run as its own process so its memory is its own.
// argv: <loadFromCluster prefix> [labelSelector]; prints {ms, count, peakRssMb}.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

const [prefix, labelSelector] = process.argv.slice(2);
const kc = new KubeConfig();
kc.loadFromCluster(prefix);
const core = kc.makeApiClient(CoreV1Api);
const started = performance.now();
const list = await core.listPodForAllNamespaces(labelSelector ? { labelSelector } : {});
const ms = performance.now() - started;
console.log(JSON.stringify({ ms, count: list.items.length, peakRssMb: Math.round(process.resourceUsage().maxRSS / 102.4) / 10 }));
