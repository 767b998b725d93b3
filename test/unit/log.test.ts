import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../function/log.ts';

test('a token, an Authorization header or request headers never reach a log line, even if a change tries', () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  log.info({ token: 'T1', authorization: 'Bearer T2', headers: { authorization: 'Bearer T3' }, req: { authorization: 'Bearer T4', token: 'T5', headers: { cookie: 'c' } } }, 'x');
  const [line] = lines;
  assert.deepEqual([line!['token'], line!['authorization'], line!['headers']], ['[redacted]', '[redacted]', '[redacted]']);
  assert.deepEqual(line!['req'], { authorization: '[redacted]', token: '[redacted]', headers: '[redacted]' });
  assert.equal(/Bearer|"T[1-5]"/.test(JSON.stringify(line)), false);
  assert.deepEqual([line!['service'], line!['level'], line!['msg']], ['podcount', 'info', 'x']);
});
