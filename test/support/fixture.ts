// What most integration files need: a control plane, the podcount ServiceAccount allowed to list
// pods cluster-wide, some pods, and the function started on its in-cluster path. Created in the
// calling describe()'s before() and torn down in its after(), every extra function included.
import { after, before } from 'node:test';
import { ControlPlane } from './controlplane.ts';
import { FunctionProcess } from './function-process.ts';
import { setUpServiceAccount, type PodcountIdentity } from './identity.ts';

export interface PodcountFixture {
  readonly cp: ControlPlane;
  readonly sa: PodcountIdentity;
  /** The function, started with the fixture's env. */
  readonly fn: FunctionProcess;
  /** Another instance with extra settings; stopped in after() too. */
  startFunction(env?: Record<string, string>): Promise<FunctionProcess>;
}

export interface FixtureOptions {
  /** Pods and namespaces to create before the function starts. */
  seed?: (cp: ControlPlane) => Promise<unknown>;
  env?: Record<string, string>;
  /** Bind the ServiceAccount token to a Secret of this name, so deleting it revokes the token. */
  boundSecret?: string;
  /** Start kube-apiserver with its audit log, to see each request exactly as the server got it. */
  auditPolicy?: boolean;
}

export function usePodcount(opts: FixtureOptions = {}): PodcountFixture {
  let cp: ControlPlane | undefined;
  let sa: PodcountIdentity | undefined;
  let fn: FunctionProcess | undefined;
  const started: FunctionProcess[] = [];
  const required = <T>(value: T | undefined, name: string): T => {
    if (value === undefined) throw new Error(`the fixture's ${name} is not set up (used outside a test?)`);
    return value;
  };
  const fixture: PodcountFixture = {
    get cp() { return required(cp, 'control plane'); },
    get sa() { return required(sa, 'ServiceAccount'); },
    get fn() { return required(fn, 'function'); },
    async startFunction(env = {}) {
      const instance = await FunctionProcess.start({ env: { ...fixture.sa.env, ...env } });
      started.push(instance);
      return instance;
    },
  };
  before(async () => {
    cp = await ControlPlane.start({ auditPolicy: opts.auditPolicy ?? false });
    sa = await setUpServiceAccount(cp, 'podcount', 'podcount', 'cluster', opts.boundSecret ? { boundSecret: opts.boundSecret } : {});
    await opts.seed?.(cp);
    fn = await fixture.startFunction(opts.env);
  });
  after(async () => {
    for (const instance of started) await instance.stop();
    sa?.cleanup();
    await cp?.stop();
  });
  return fixture;
}
