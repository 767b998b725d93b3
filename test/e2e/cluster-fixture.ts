// The end-to-end files' fixture: one real single-node cluster per file (test/node), the locally
// built images imported into its containerd, torn down in after(). `explain` wraps a step so
// that a failure carries what a person needs to see (pods, events, component logs).
import { after, before } from 'node:test';
import { ensureImages, type BuiltImage } from '../images/images.ts';
import { ensureNodeBinaries } from '../node/binaries.ts';
import { NodeCluster } from '../node/node-cluster.ts';

export type Images = Awaited<ReturnType<typeof ensureImages>>;

export interface ClusterFixture {
  readonly cluster: NodeCluster;
  readonly images: Images;
  /** Runs `step`; if it throws, the error gains the cluster's state (and `namespace`'s pods). */
  explain<T>(namespace: string | undefined, step: () => Promise<T>): Promise<T>;
  /** From now on failures carry this report instead (e.g. Knative's, which includes the cluster's). */
  reportWith(report: (namespace: string | undefined) => Promise<string>): void;
}

export function useNodeCluster(opts: { import?: Array<keyof Images> } = {}): ClusterFixture {
  let cluster: NodeCluster | undefined;
  let images: Images | undefined;
  let wider: ((namespace: string | undefined) => Promise<string>) | undefined;
  const fixture: ClusterFixture = {
    get cluster() {
      if (!cluster) throw new Error('the test cluster is not up (used outside a test?)');
      return cluster;
    },
    get images() {
      if (!images) throw new Error('the images are not built (used outside a test?)');
      return images;
    },
    async explain(namespace, step) {
      try {
        return await step();
      } catch (err) {
        const report = wider ? await wider(namespace).catch(String) : cluster ? await cluster.report(namespace).catch(String) : '(no cluster)';
        // A new error: the reporter prints an assertion's diff, not an amended message.
        throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- test cluster state ---\n${report}`, { cause: err });
      }
    },
    reportWith(report) {
      wider = report;
    },
  };
  before(async () => {
    const bin = await ensureNodeBinaries();
    images = await ensureImages({ corednsBinary: bin.coredns });
    cluster = await NodeCluster.start({ images });
    const wanted: BuiltImage[] = (opts.import ?? ['podcount', 'client']).map((k) => images![k]);
    await fixture.explain(undefined, () => Promise.all(wanted.map((i) => cluster!.importImage(i))));
  });
  after(async () => {
    await cluster?.stop();
  });
  return fixture;
}
