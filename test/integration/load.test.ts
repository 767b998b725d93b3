// A burst of identical callers is answered correctly while the API server sees at most two pod
// lists: counted by the API server itself (apiserver_request_total), not by podcount's word.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { concurrentRequests } from '../support/burst.ts';
import { usePodcount } from '../support/fixture.ts';
import type { FunctionProcess } from '../support/function-process.ts';
import { apiRequestCount } from '../support/metrics.ts';
import { createPods } from '../support/pods.ts';

describe('coalescing under a burst', () => {
  const pc = usePodcount({ seed: (cp) => createPods(cp, 'podcount', 40) });

  before(async () => {
    assert.equal((await pc.fn.get('/')).status, 200); // warm: the burst measures coalescing, not the first handshake
  });

  /** 200 callers whose requests are truly in flight together (support/burst.ts). */
  async function burst(f: FunctionProcess, path: string): Promise<Array<{ status: number; count: number }>> {
    return (await concurrentRequests(f, path)).map((r) => ({ status: r.status, count: (JSON.parse(r.body) as { count: number }).count }));
  }

  test('200 concurrent identical requests: all correct, at most 2 LIST pods at the API server', async () => {
    const before = await apiRequestCount(pc.cp, { verb: 'LIST', resource: 'pods' });
    const answers = await burst(pc.fn, '/');
    const lists = (await apiRequestCount(pc.cp, { verb: 'LIST', resource: 'pods' })) - before;
    assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
    assert.deepEqual([...new Set(answers.map((a) => a.count))], [40]);
    assert.ok(lists >= 1 && lists <= 2, `the API server saw ${lists} pod lists`);
  });

  test('a filtered burst pages at most twice over', async () => {
    const fnPaged = await pc.startFunction({ PODCOUNT_PAGE_SIZE: '10' });
    {
      const path = '/?fieldSelector=status.phase%3DPending';
      const one = await apiRequestCount(pc.cp, { verb: 'LIST', resource: 'pods' });
      assert.equal((await fnPaged.get(path)).status, 200);
      const before = await apiRequestCount(pc.cp, { verb: 'LIST', resource: 'pods' });
      const pagesPerRead = before - one;
      const answers = await burst(fnPaged, path);
      const lists = (await apiRequestCount(pc.cp, { verb: 'LIST', resource: 'pods' })) - before;
      assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
      assert.deepEqual([...new Set(answers.map((a) => a.count))], [40]);
      assert.ok(pagesPerRead >= 4, `40 pods in pages of 10 take ${pagesPerRead} requests`);
      assert.ok(lists <= 2 * pagesPerRead, `the API server saw ${lists} pod list pages (${pagesPerRead} per read)`);
    }
  });
});
