import assert from 'node:assert/strict';
import { test } from 'node:test';

test('tests run on Node 24 LTS (installed by npm from the node package), not the machine\'s Node', () => {
  assert.match(process.version, /^v24\./);
});
