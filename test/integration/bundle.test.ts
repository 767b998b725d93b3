// The image ships dist/ alone. This proves the bundle needs nothing else: dist/ is copied to an
// empty folder (no node_modules anywhere above it) and every lazily loaded part is exercised:
// the CloudEvents SDK (an event) and client-node (a kubeconfig).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createPods } from '../support/cluster.ts';
import { ControlPlane } from '../support/controlplane.ts';
import { startArgs } from '../support/function-process.ts';
import { freePort } from '../support/ports.ts';

describe('the bundle is self-contained', () => {
  let cp: ControlPlane;
  let dir: string;

  before(async () => {
    cp = await ControlPlane.start();
    await createPods(cp, 'default', 3);
    dir = mkdtempSync(join(tmpdir(), 'podcount-image-'));
    cpSync(resolve(import.meta.dirname, '..', '..', 'dist'), join(dir, 'dist'), { recursive: true, filter: (src) => !src.includes('.compile-cache') });
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await cp?.stop();
  });

  test('dist/ alone serves counts through client-node and CloudEvents', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, startArgs(), { cwd: dir, env: { PATH: process.env['PATH'], HOME: dir, PORT: String(port), KUBECONFIG: cp.kubeconfigPath, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    try {
      let res: Response | undefined;
      for (let i = 0; i < 100 && !res; i++) {
        res = await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
        if (!res) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(res, `no answer: ${stderr}`);
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await res.json() as { count: number }).count, 3);
      const event = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'ce-specversion': '1.0', 'ce-id': 'b-1', 'ce-source': '/bundle', 'ce-type': 'dev.podcount.count.requested' } });
      assert.equal(event.status, 200);
      assert.equal(event.headers.get('ce-type'), 'dev.podcount.pods.counted');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    assert.equal(stderr, '');
  });
});
