import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp } from '../../function/app.ts';
import { loadConfig } from '../../function/config.ts';
import type { CountQuery } from '../../function/count.ts';
import { createLogger } from '../../function/log.ts';
import { toCountQuery } from '../../function/request.ts';
import { apiResponse, stubApi } from './stubs.ts';

/** An app over a stand-in API server that answers each list with the request's own path as its resourceVersion. */
function appOverEcho() {
  const paths: string[] = [];
  const api = stubApi((_method, path) => {
    paths.push(path);
    return apiResponse(200, { kind: 'Table', metadata: { resourceVersion: path }, rows: [{}] });
  });
  const config = loadConfig({});
  const app = createApp({ config, resolution: { ok: true, target: api.target }, api, scopeNamespace: undefined, accessCheck: undefined }, createLogger('silent', { write: () => {} }));
  return { app, paths };
}

/** Every field a query can narrow by: whatever request.ts hands to the count (new fields included). */
const FIELDS = Object.keys(toCountQuery({}, loadConfig({}), undefined, 'query')) as Array<keyof CountQuery>;
const variant = (field: keyof CountQuery, n: number) => (field === 'namespace' ? `ns-${n}` : `k${n}=v${n}`);

test('concurrent queries that differ in any one field never share an answer', async () => {
  assert.deepEqual([...FIELDS].sort(), ['fieldSelector', 'labelSelector', 'namespace'].sort(), 'the fields this test varies (a new one is varied too)');
  const full = Object.fromEntries(FIELDS.map((f) => [f, variant(f, 1)])) as CountQuery;
  for (const field of FIELDS) {
    // The field changed, or left out, with every other field the same.
    for (const other of [{ ...full, [field]: variant(field, 2) }, { ...full, [field]: undefined }]) {
      const { app, paths } = appOverEcho();
      const [a, b] = await Promise.all([app.count(full), app.count(other)]);
      assert.equal(paths.length, 2, `${field}: one read each`);
      assert.notEqual(a.resourceVersion, b.resourceVersion, `${field}: each answer comes from its own read`);
      const asked = (q: CountQuery, path: string) => {
        const params = new URL(path, 'https://x').searchParams;
        return (q.labelSelector ?? null) === params.get('labelSelector') && (q.fieldSelector ?? null) === params.get('fieldSelector')
          && path.startsWith(q.namespace ? `/api/v1/namespaces/${q.namespace}/pods?` : '/api/v1/pods?');
      };
      assert.ok(asked(full, a.resourceVersion), `${field}: the first answer is for the first query: ${a.resourceVersion}`);
      assert.ok(asked(other, b.resourceVersion), `${field}: the second answer is for the second query: ${b.resourceVersion}`);
    }
  }
});

test('queries whose fields only read the same when joined do not share an answer', async () => {
  const pairs: Array<[CountQuery, CountQuery]> = [
    [{ labelSelector: 'a,b' }, { labelSelector: 'a', fieldSelector: 'b' }],
    [{ namespace: 'a', labelSelector: 'b=c' }, { labelSelector: 'a', fieldSelector: 'b=c' }],
    [{ labelSelector: 'null' }, {}],
  ];
  for (const [x, y] of pairs) {
    const { app, paths } = appOverEcho();
    const [a, b] = await Promise.all([app.count(x), app.count(y)]);
    assert.equal(paths.length, 2, JSON.stringify([x, y]));
    assert.notEqual(a.resourceVersion, b.resourceVersion);
  }
});

test('identical concurrent queries do share one read', async () => {
  const { app, paths } = appOverEcho();
  const q = { namespace: 'a', labelSelector: 'x=1', fieldSelector: 'status.phase=Running' };
  const answers = await Promise.all([app.count(q), app.count({ ...q }), app.count({ ...q })]);
  assert.equal(paths.length, 1);
  assert.equal(new Set(answers.map((a) => a.resourceVersion)).size, 1);
});
