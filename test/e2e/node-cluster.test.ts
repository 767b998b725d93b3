// The test cluster itself (test/node): it is a real node (the pinned components, containerd and
// runc running pods, cluster DNS, Services through kube-proxy), it lives in namespaces of its own
// (the machine's sysctls, links, routes and firewall are untouched while it runs), and stop()
// leaves the machine exactly as it was found.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ensureImages } from '../images/images.ts';
import { ensureNodeBinaries } from '../node/binaries.ts';
import { KUBERNETES_SERVICE_IP, NODE_NAME } from '../node/configs.ts';
import { NodeCluster } from '../node/node-cluster.ts';
import { hostState, linkExists, namespacesOf, processesIn } from './host-state.ts';
import { clientPod, toYaml } from './workloads.ts';

describe('the single-node test cluster', () => {
  it('runs a real node in namespaces of its own and leaves the machine as it found it', async () => {
    const bin = await ensureNodeBinaries();
    const images = await ensureImages({ corednsBinary: bin.coredns });
    const before = hostState();
    const cluster = await NodeCluster.start({ images });
    let namespaces: string[] = [];
    try {
      namespaces = namespacesOf(cluster.sandbox.initPid);
      const node = (await cluster.admin.must(`/api/v1/nodes/${NODE_NAME}`)).json;
      assert.equal(node.status.nodeInfo.kubeletVersion, 'v1.36.3');
      assert.match(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/v?2\.4\.2/);
      assert.deepEqual(node.status.addresses.find((a: { type: string }) => a.type === 'InternalIP')?.address, cluster.sandbox.addresses.nodeIp);
      const version = (await cluster.admin.must('/version')).json;
      assert.equal(version.gitVersion, 'v1.36.3');

      // While it runs, the machine's own settings are untouched: forwarding is on inside only.
      assert.deepEqual(hostState().sysctls, before.sysctls);
      assert.equal((await cluster.sandbox.exec('cat', ['/proc/sys/net/ipv4/ip_forward'])).trim(), '1');

      // A pod: scheduled, sandboxed by runc, networked by the CNI bridge; from it, cluster DNS and
      // the `kubernetes` Service (kube-proxy's rules) work as on any node.
      await cluster.importImage(images.client);
      await cluster.apply(toYaml([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'e2e-node' } }, clientPod({ image: images.client.ref, namespace: 'e2e-node' })]));
      await cluster.kubectl(['-n', 'e2e-node', 'wait', '--for=condition=Ready', 'pod/client', '--timeout=60s']);
      const resolved = await cluster.kubectl(['exec', '-n', 'e2e-node', 'client', '--', '/nodejs/bin/node', '-e',
        "require('node:dns').promises.lookup('kubernetes.default.svc.cluster.local').then((a) => console.log(a.address))"]);
      assert.equal(resolved.trim(), KUBERNETES_SERVICE_IP);
      // kube-proxy's rules carry a connection to the `kubernetes` Service to kube-apiserver.
      const connected = await cluster.kubectl(['exec', '-n', 'e2e-node', 'client', '--', '/nodejs/bin/node', '-e',
        "const s = require('node:net').connect(443, 'kubernetes.default.svc.cluster.local', () => { console.log('connected to ' + s.remoteAddress); s.destroy(); })"]);
      assert.equal(connected.trim(), `connected to ${KUBERNETES_SERVICE_IP}`);
    } catch (err) {
      if (err instanceof Error) err.message += `\n--- test cluster state ---\n${await cluster.report('e2e-node').catch(String)}`;
      throw err;
    } finally {
      await cluster.stop();
    }
    const after = hostState();
    assert.deepEqual(processesIn(namespaces, cluster.dir), [], 'processes of the cluster outlived it');
    assert.deepEqual(after.mounts, before.mounts);
    assert.equal(linkExists(cluster.sandbox.hostLink), false, `the host's veth ${cluster.sandbox.hostLink} is still there`);
    assert.deepEqual(after.links, before.links);
    assert.deepEqual(after.routes, before.routes);
    assert.equal(after.iptables, before.iptables);
    assert.deepEqual(after.sysctls, before.sysctls);
    assert.deepEqual(after.cgroups, before.cgroups);
  });
});
