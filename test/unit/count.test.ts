import assert from 'node:assert/strict';
import { test } from 'node:test';
import { namespaceFromFieldSelector } from '../../function/count.ts';

test('a metadata.namespace term in a field selector names the namespace to list', () => {
  assert.equal(namespaceFromFieldSelector('metadata.namespace=beta'), 'beta');
  assert.equal(namespaceFromFieldSelector('status.phase=Running,metadata.namespace==team-a'), 'team-a');
  assert.equal(namespaceFromFieldSelector(' metadata.namespace = x '), 'x');
  assert.equal(namespaceFromFieldSelector('metadata.namespace!=beta'), undefined, 'an exclusion still spans the cluster');
  assert.equal(namespaceFromFieldSelector('metadata.name=beta'), undefined);
  assert.equal(namespaceFromFieldSelector(undefined), undefined);
  assert.equal(namespaceFromFieldSelector('metadata.namespace=Bad_NS'), undefined, 'not a namespace name: left to the server to reject');
});
