// The node's configuration files: containerd (CRI, runc, CNI), the CNI bridge, the kubelet and
// kube-proxy. Each setting that departs from upstream defaults says why; most are what this
// machine needs (cgroup v1, no CAP_SYS_RESOURCE, see real-node.md in the shared notes).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const NODE_NAME = 'podcount-node';
export const SERVICE_CIDR = '10.96.0.0/16';
/** The `kubernetes` Service's ClusterIP: the first address of the service range. */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
export const DNS_SERVICE_IP = '10.96.0.10';
export const POD_CIDR = '10.244.0.0/24';
export const CLUSTER_DOMAIN = 'cluster.local';

export interface NodePaths {
  dir: string;
  containerdSocket: string;
  cniConfDir: string;
}

export function nodePaths(dir: string): NodePaths {
  return { dir, containerdSocket: join(dir, 'containerd.sock'), cniConfDir: join(dir, 'cni') };
}

export function writeContainerdConfig(p: NodePaths, o: { pauseImage: string; cniBinDir: string }): string {
  const path = join(p.dir, 'containerd.toml');
  writeFileSync(path, `version = 3
# The socket where the host (ctr, image imports) can reach it; root and state live inside the
# sandbox's private /var/lib and /run.
root = '/var/lib/containerd'
state = '/run/containerd'
[grpc]
  address = '${p.containerdSocket}'
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    # Built locally (test/images): nothing can be pulled.
    sandbox = '${o.pauseImage}'
[plugins.'io.containerd.cri.v1.runtime']
  # Without CAP_SYS_RESOURCE runc cannot lower oom_score_adj: every sandbox would fail.
  restrict_oom_score_adj = true
  # cgroup v1 hybrid: hugetlb lives in the unified hierarchy only.
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        # PID 1 is not systemd on these machines.
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['${o.cniBinDir}']
    conf_dir = '${p.cniConfDir}'
`);
  return path;
}

/**
 * A bridge with host-local addresses for the pods. isDefaultGateway routes pod traffic through the
 * node, where kube-proxy's rules turn ClusterIPs into pod or node addresses; no ipMasq and no
 * portmap: nothing leaves the node, and CNI writes no iptables rules of its own.
 */
export function writeCniConfig(p: NodePaths): void {
  mkdirSync(p.cniConfDir, { recursive: true });
  writeFileSync(join(p.cniConfDir, '10-podcount.conflist'), JSON.stringify({
    cniVersion: '1.0.0',
    name: 'podcount',
    plugins: [
      {
        type: 'bridge', bridge: 'cni0', isGateway: true, isDefaultGateway: true, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }]], dataDir: '/var/lib/cni/networks' },
      },
      { type: 'loopback' },
    ],
  }, null, 2));
}

export function writeKubeletConfig(p: NodePaths, o: { nodeIp: string; caCert: string; servingCert: string; servingKey: string }): string {
  const path = join(p.dir, 'kubelet.yaml');
  writeFileSync(path, JSON.stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // 1.36 refuses cgroup v1 unless told; these machines have nothing else.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    // Without CAP_SYS_RESOURCE the kubelet cannot set its own OOM score below 0.
    oomScoreAdj: 0,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
    imageServiceEndpoint: `unix://${p.containerdSocket}`,
    address: o.nodeIp,
    // Reachable from the host, for the harness's readiness check.
    healthzBindAddress: o.nodeIp,
    readOnlyPort: 0,
    tlsCertFile: o.servingCert,
    tlsPrivateKeyFile: o.servingKey,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: o.caCert } },
    authorization: { mode: 'Webhook' },
    clusterDNS: [DNS_SERVICE_IP],
    clusterDomain: CLUSTER_DOMAIN,
    // No upstream resolver exists for the node: cluster names only.
    resolvConf: '',
    // The images are imported, never pulled: garbage collection must not remove them, and a
    // machine's full disk must not evict the test's pods.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    // Faster than the 20 s default so tests see status changes sooner.
    nodeStatusUpdateFrequency: '4s',
    serializeImagePulls: false,
    registerNode: true,
  }, null, 2));
  return path;
}

export function writeKubeProxyConfig(p: NodePaths, o: { kubeconfig: string; nodeIp: string }): string {
  const path = join(p.dir, 'kube-proxy.yaml');
  writeFileSync(path, JSON.stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    hostnameOverride: NODE_NAME,
    clientConnection: { kubeconfig: o.kubeconfig },
    clusterCIDR: POD_CIDR,
    healthzBindAddress: `${o.nodeIp}:10256`,
    metricsBindAddress: '127.0.0.1:10249',
    // Zeros leave the conntrack sysctls alone (some are global to the machine).
    conntrack: {
      maxPerCore: 0, min: 0,
      tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s', tcpBeLiberal: false,
      udpTimeout: '0s', udpStreamTimeout: '0s',
    },
    // Otherwise kube-proxy sets route_localnet for NodePorts on 127.0.0.1.
    iptables: { localhostNodePorts: false },
  }, null, 2));
  return path;
}
