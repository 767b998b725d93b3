// A real single-node Kubernetes cluster for end-to-end tests: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd + runc + a CNI bridge, the kubelet,
// kube-proxy and CoreDNS, each a pinned build (test/node/binaries.ts, Debian's runc and CNI
// plugins), all inside the node's own namespaces (sandbox.ts). start() brings it up to a Ready
// node with cluster DNS; stop() removes the pods, stops every component in order and leaves the
// machine as it was. The host reaches kube-apiserver at the node's address; pods reach it
// through the `kubernetes` Service like on any cluster.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { controlPlaneBinaries } from '../controlplane/binaries.ts';
import type { BuiltImage } from '../images/images.ts';
import { BearerClient } from '../support/bearer-client.ts';
import { trackDir } from '../support/cleanup.ts';
import { ServerProcess } from '../support/process.ts';
import { ensureNodeBinaries, type NodeBinaries } from './binaries.ts';
import { createCgroupRoot, removeCgroupRoot } from './cgroups.ts';
import { CLUSTER_DOMAIN, DNS_SERVICE_IP, KUBERNETES_SERVICE_IP, NODE_NAME, nodePaths, POD_CIDR, SERVICE_CIDR, writeCniConfig, writeContainerdConfig, writeKubeletConfig, writeKubeProxyConfig, type NodePaths } from './configs.ts';
import { generatePki, writeKubeconfig, type ClusterPki } from './pki.ts';
import { probe, socketAccepts } from './probe.ts';
import { NodeSandbox } from './sandbox.ts';
import { waitFor } from '../support/poll.ts';

const run = promisify(execFile);
const MANIFESTS = join(import.meta.dirname, 'manifests');
const CNI_BIN_DIR = '/usr/lib/cni';
const SERVICE_ACCOUNT_ISSUER = `https://kubernetes.default.svc.${CLUSTER_DOMAIN}`;

export interface NodeClusterTimings {
  /** Seconds from start() to each milestone. */
  [milestone: string]: number;
}

export class NodeCluster {
  readonly dir: string;
  readonly id: string;
  readonly sandbox: NodeSandbox;
  readonly paths: NodePaths;
  /** https://<node address>:6443, reachable from the host. */
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly timings: NodeClusterTimings = {};
  readonly processes: ServerProcess[] = [];
  #pki: ClusterPki | undefined;
  #admin: BearerClient | undefined;
  #kubectl = 'kubectl';
  #ctr = 'ctr';
  #cgroupRoot: string | undefined;
  #untrackDir: () => void;
  #started = 0;
  #stopped = false;
  readonly #adminToken = randomBytes(24).toString('hex');

  private constructor(dir: string, id: string, sandbox: NodeSandbox) {
    this.dir = dir;
    this.id = id;
    this.sandbox = sandbox;
    this.paths = nodePaths(dir);
    this.url = `https://${sandbox.addresses.nodeIp}:6443`;
    this.kubeconfigPath = join(dir, 'admin.kubeconfig');
    this.#untrackDir = trackDir(dir);
  }

  /** Builds (first run) or finds the binaries and images, then brings the node up. */
  static async start(o: { log?: (line: string) => void; images?: { pause: BuiltImage; coredns: BuiltImage } } = {}): Promise<NodeCluster> {
    const started = performance.now();
    const log = o.log ?? (() => {});
    const [cp, node] = [await controlPlaneBinaries(), await ensureNodeBinaries(log)];
    const images = o.images ?? await (await import('../images/images.ts')).ensureImages({ corednsBinary: node.coredns, log });
    const id = randomBytes(3).toString('hex');
    const dir = mkdtempSync(join(tmpdir(), 'podcount-node-'));
    const cluster = new NodeCluster(dir, id, new NodeSandbox(dir, id, await NodeSandbox.pickAddresses()));
    cluster.#started = started;
    cluster.#kubectl = cp.kubectl;
    cluster.#ctr = node.ctr;
    cluster.mark('binaries');
    try {
      await cluster.#bringUp(cp, node, images);
      return cluster;
    } catch (err) {
      const report = await cluster.report().catch((e: unknown) => `(no report: ${String(e)})`);
      await cluster.stop();
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- test cluster state ---\n${report}`, { cause: err });
    }
  }

  get admin(): BearerClient {
    if (!this.#admin) throw new Error('the test cluster is not started');
    return this.#admin;
  }

  /** The kubectl the control plane's build made (its version is the cluster's). */
  get kubectlPath(): string {
    return this.#kubectl;
  }

  get caPem(): string {
    return this.#pki?.caPem ?? '';
  }

  mark(milestone: string): void {
    this.timings[milestone] = Math.round((performance.now() - this.#started) / 100) / 10;
  }

  async #bringUp(cp: { etcd: string; kubeApiserver: string }, bin: NodeBinaries, images: { pause: BuiltImage; coredns: BuiltImage }): Promise<void> {
    const { nodeIp } = this.sandbox.addresses;
    this.#cgroupRoot = createCgroupRoot(this.id);
    await this.sandbox.start(join(this.dir, 'sandbox.log'));
    this.mark('sandbox');
    const pki = generatePki(this.dir, { nodeName: NODE_NAME, nodeIp, serviceIp: KUBERNETES_SERVICE_IP });
    this.#pki = pki;
    this.#admin = new BearerClient(this.url, pki.caPem, this.#adminToken);
    writeKubeconfig(this.kubeconfigPath, { server: this.url, caCert: pki.caCert, user: 'admin', token: this.#adminToken });
    const kubeconfig = (name: string, cert: ClusterPki['kubelet']) => writeKubeconfig(join(this.dir, `${name}.kubeconfig`), { server: this.url, caCert: pki.caCert, user: name, cert });

    const containerd = this.#component('containerd');
    const containerdConfig = writeContainerdConfig(this.paths, { pauseImage: images.pause.ref, cniBinDir: CNI_BIN_DIR });
    writeCniConfig(this.paths);
    // The shim and runc are found on containerd's PATH. Info level: its CRI lines (sandbox and
    // container started, with sub-second times) are what bench/ breaks a pod start down with.
    const containerdUp = containerd.start(...this.sandbox.wrap(bin.containerd, ['--config', containerdConfig, '--log-level', 'info'], { PATH: `${bin.dirs.join(':')}:/usr/sbin:/usr/bin:/sbin:/bin` }),
      () => socketAccepts(this.paths.containerdSocket), 30_000)
      .then(() => this.mark('containerd'))
      .then(() => Promise.all([images.pause, images.coredns].map((i) => this.importImage(i))))
      .then(() => this.mark('images'));

    const etcd = this.#component('etcd');
    await etcd.start(...this.sandbox.wrap(cp.etcd, [
      '--name=node', `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:2379,http://${nodeIp}:2379`, '--advertise-client-urls=http://127.0.0.1:2379',
      '--listen-peer-urls=http://127.0.0.1:2380', '--initial-advertise-peer-urls=http://127.0.0.1:2380', '--initial-cluster=node=http://127.0.0.1:2380',
      '--unsafe-no-fsync=true', '--log-level=warn',
    ]), async () => (await probe(`http://${nodeIp}:2379/health`)).status === 200, 30_000);
    this.mark('etcd');

    const tokens = join(this.dir, 'tokens.csv');
    writeFileSync(tokens, `${this.#adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
    await this.#component('kube-apiserver').start(...this.sandbox.wrap(cp.kubeApiserver, [
      '--etcd-servers=http://127.0.0.1:2379',
      '--bind-address=0.0.0.0', `--advertise-address=${nodeIp}`, '--secure-port=6443',
      `--tls-cert-file=${pki.apiserver.cert}`, `--tls-private-key-file=${pki.apiserver.key}`,
      `--client-ca-file=${pki.caCert}`, `--token-auth-file=${tokens}`,
      '--authorization-mode=Node,RBAC', '--enable-admission-plugins=NodeRestriction',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${pki.saPublicKey}`, `--service-account-signing-key-file=${pki.saPrivateKey}`,
      // Honest expiry on projected tokens (the default stretches them to a year for old clients).
      '--service-account-extend-token-expiration=false',
      `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`, `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
      `--kubelet-certificate-authority=${pki.caCert}`,
      // Reach the kubelet at its address, not by a hostname nothing resolves (kubectl logs/exec).
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      '--allow-privileged=true', '--profiling=false', '--v=1',
    ]), async () => (await this.admin.request('/readyz', { timeoutMs: 2000 })).status === 200, 120_000);
    this.mark('kube-apiserver');
    await this.apply(readFileSync(join(MANIFESTS, 'bootstrap.yaml'), 'utf8'));

    const cm = this.#component('kube-controller-manager');
    const cmConfig = kubeconfig('kube-controller-manager', pki.controllerManager);
    const scheduler = this.#component('kube-scheduler');
    const schedulerConfig = kubeconfig('kube-scheduler', pki.scheduler);
    await Promise.all([
      cm.start(...this.sandbox.wrap(bin.kubeControllerManager, [
        `--kubeconfig=${cmConfig}`, `--authentication-kubeconfig=${cmConfig}`, `--authorization-kubeconfig=${cmConfig}`,
        '--use-service-account-credentials=true', `--root-ca-file=${pki.caCert}`, `--service-account-private-key-file=${pki.saPrivateKey}`,
        `--cluster-signing-cert-file=${pki.caCert}`, `--cluster-signing-key-file=${pki.caKey}`,
        `--cluster-cidr=${POD_CIDR}`, `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--leader-elect=false', `--bind-address=${nodeIp}`, '--v=1',
      ]), async () => (await probe(`https://${nodeIp}:10257/healthz`)).status === 200, 60_000),
      scheduler.start(...this.sandbox.wrap(bin.kubeScheduler, [
        `--kubeconfig=${schedulerConfig}`, `--authentication-kubeconfig=${schedulerConfig}`, `--authorization-kubeconfig=${schedulerConfig}`,
        '--leader-elect=false', `--bind-address=${nodeIp}`, '--v=1',
      ]), async () => (await probe(`https://${nodeIp}:10259/healthz`)).status === 200, 60_000),
      containerdUp,
    ]);
    this.mark('controllers');

    const kubeletConfig = writeKubeletConfig(this.paths, { nodeIp, caCert: pki.caCert, servingCert: pki.kubeletServing.cert, servingKey: pki.kubeletServing.key });
    await this.#component('kubelet').start(...this.sandbox.wrap(bin.kubelet, [
      `--config=${kubeletConfig}`, `--kubeconfig=${kubeconfig('kubelet', pki.kubelet)}`,
      `--hostname-override=${NODE_NAME}`, `--node-ip=${nodeIp}`,
      // This node's own cgroup root (cgroups.ts): v1 hierarchies are shared with the machine.
      `--cgroup-root=${this.#cgroupRoot}`, '--v=1',
    ]), async () => (await probe(`http://${nodeIp}:10248/healthz`)).status === 200, 60_000);
    await this.#component('kube-proxy').start(...this.sandbox.wrap(bin.kubeProxy, [
      `--config=${writeKubeProxyConfig(this.paths, { kubeconfig: kubeconfig('kube-proxy', pki.kubeProxy), nodeIp })}`,
      // v=2 logs each rules sync and how long it took: a late Service shows in a failure's report.
      '--v=2',
    ]), async () => (await probe(`http://${nodeIp}:10256/healthz`)).status === 200, 60_000);
    await waitFor(() => this.#nodeReady(), { timeoutMs: 60_000, what: `node ${NODE_NAME} Ready` });
    this.mark('node Ready');

    await this.apply(readFileSync(join(MANIFESTS, 'coredns.yaml'), 'utf8').replace('COREDNS_IMAGE', images.coredns.ref).replace('DNS_SERVICE_IP', DNS_SERVICE_IP));
    await this.kubectl(['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', '--timeout=90s']);
    // Pods need their namespace's default ServiceAccount, made by the controller-manager.
    await waitFor(async () => (await this.admin.request('/api/v1/namespaces/default/serviceaccounts/default')).status === 200, { timeoutMs: 30_000, what: 'the default ServiceAccount' });
    this.mark('ready');
  }

  #component(name: string): ServerProcess {
    const p = new ServerProcess(name, join(this.dir, `${name}.log`));
    this.processes.push(p);
    return p;
  }

  async #nodeReady(): Promise<boolean> {
    const res = await this.admin.request(`/api/v1/nodes/${NODE_NAME}`);
    const conditions = (res.json?.status?.conditions ?? []) as Array<{ type: string; status: string }>;
    return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
  }

  /** kubectl as the cluster admin; rejects with stderr on a non-zero exit. */
  async kubectl(args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile(this.#kubectl, [`--kubeconfig=${this.kubeconfigPath}`, ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 180_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`kubectl ${args.join(' ')}: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  /** Server-side apply of YAML (what `kubectl apply --server-side` does). */
  apply(yaml: string, extra: string[] = []): Promise<string> {
    return this.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=podcount-test', ...extra, '-f', '-'], yaml);
  }

  /** Makes a locally built image known to containerd under its ref (pods use imagePullPolicy Never). */
  async importImage(image: BuiltImage): Promise<void> {
    const repo = image.ref.slice(0, image.ref.lastIndexOf(':'));
    await run(this.#ctr, ['--address', this.paths.containerdSocket, '-n', 'k8s.io', 'images', 'import', '--base-name', repo, image.archive], { maxBuffer: 16 * 1024 * 1024 });
  }

  /** What a person needs to see when a step failed: nodes, pods, events, component log tails. */
  async report(namespace?: string): Promise<string> {
    const parts: string[] = [];
    const section = async (title: string, f: () => Promise<string>) => {
      parts.push(`## ${title}\n${(await f().catch((e: unknown) => `(${e instanceof Error ? e.message : String(e)})`)).trimEnd()}`);
    };
    if (this.#admin) {
      await section('kubectl get nodes,pods -A -o wide', () => this.kubectl(['get', 'nodes,pods', '-A', '-o', 'wide']));
      await section('events', () => this.kubectl(['get', 'events', '-A', '--sort-by=.lastTimestamp']));
      if (namespace) await section(`kubectl describe pods -n ${namespace}`, () => this.kubectl(['describe', 'pods', '-n', namespace]));
    }
    for (const p of this.processes) parts.push(`## ${p.name} log (last 15 lines)\n${p.tail(15)}`);
    return parts.join('\n\n');
  }

  /** Deletes every pod, waits for the containers to stop, stops the components, removes everything. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const byName = (n: string) => this.processes.find((p) => p.name === n);
    // Nothing may recreate pods while they are removed.
    await Promise.all(['kube-controller-manager', 'kube-scheduler'].map((n) => byName(n)?.stop()));
    if (byName('kubelet')?.running && byName('kube-apiserver')?.running) {
      await this.#removeAllPods().catch(() => undefined);
    }
    for (const name of ['kube-proxy', 'kubelet', 'containerd', 'kube-apiserver', 'etcd']) await byName(name)?.stop();
    this.#admin?.close();
    // Whatever is left (a shim, a container) dies with the sandbox's PID namespace.
    await this.sandbox.destroy();
    if (this.#cgroupRoot) {
      const root = this.#cgroupRoot;
      // The kernel frees a cgroup shortly after its last task exits.
      await waitFor(() => removeCgroupRoot(root), { timeoutMs: 10_000, what: `cgroup root ${root} to be removable` }).catch(() => undefined);
    }
    rmSync(this.dir, { recursive: true, force: true });
    this.#untrackDir();
  }

  async #removeAllPods(): Promise<void> {
    const namespaces = (await this.admin.must('/api/v1/namespaces')).json.items as Array<{ metadata: { name: string } }>;
    await Promise.all(namespaces.map((n) => this.admin.request(`/api/v1/namespaces/${n.metadata.name}/pods?gracePeriodSeconds=0`, { method: 'DELETE' })));
    // The kubelet stops the containers of deleted pods; wait until containerd runs none.
    await waitFor(async () => (await this.runningTasks()).length === 0, { timeoutMs: 60_000, what: 'every container to stop' });
  }

  /** The PID (in the node's PID namespace) of a container, from the pod status's `containerd://ID`. */
  async containerPid(containerId: string): Promise<number> {
    const id = containerId.replace(/^containerd:\/\//, '');
    const { stdout } = await run(this.#ctr, ['--address', this.paths.containerdSocket, '-n', 'k8s.io', 'tasks', 'ls']);
    const line = stdout.split('\n').find((l) => l.startsWith(`${id} `));
    if (!line) throw new Error(`containerd runs no task ${id}:\n${stdout}`);
    return Number(line.trim().split(/\s+/)[1]);
  }

  /** Containers containerd is running (pause containers included). */
  async runningTasks(): Promise<string[]> {
    const { stdout } = await run(this.#ctr, ['--address', this.paths.containerdSocket, '-n', 'k8s.io', 'tasks', 'ls', '-q']);
    return stdout.split('\n').filter(Boolean);
  }
}
