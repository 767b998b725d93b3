import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../function/config.ts';

test('defaults need no environment', () => {
  const c = loadConfig({});
  assert.equal(c.scope, 'cluster');
  assert.equal(c.pageSize, 2000);
  assert.equal(c.replyType, 'dev.podcount.pods.counted');
  assert.equal(c.serviceAccountDir, '/var/run/secrets/kubernetes.io/serviceaccount');
  assert.equal(c.diagnostics, true);
  assert.equal(c.metrics, true);
  assert.equal(c.port, 8080);
});

test('every setting is read and checked', () => {
  const c = loadConfig({ PODCOUNT_SCOPE: 'namespace', PODCOUNT_PAGE_SIZE: '50', PODCOUNT_DIAGNOSTICS: 'off', PODCOUNT_METRICS: 'off', PORT: '9000', K_SERVICE: 'pc', PODCOUNT_REPLY_TYPE: 'com.example.counted' });
  assert.deepEqual([c.scope, c.pageSize, c.diagnostics, c.metrics, c.port, c.service, c.replyType], ['namespace', 50, false, false, 9000, 'pc', 'com.example.counted']);
});

test('invalid values fail with one line naming the variable', () => {
  for (const [name, value] of [['PODCOUNT_SCOPE', 'galaxy'], ['PODCOUNT_PAGE_SIZE', '0'], ['PODCOUNT_PAGE_SIZE', '1e3'], ['PODCOUNT_DIAGNOSTICS', 'maybe'], ['PODCOUNT_METRICS', 'lazy'], ['PORT', '70000'], ['PODCOUNT_REPLY_TYPE', 'bad type']] as const) {
    assert.throws(() => loadConfig({ [name]: value }), (err: unknown) => err instanceof ConfigError && err.message.startsWith(name) && !err.message.includes('\n'));
  }
});

test('caller authorization: off by default; audiences, cache time and size read and checked', () => {
  const d = loadConfig({});
  assert.deepEqual([d.auth, d.authAudiences, d.authCacheSeconds, d.authCacheEntries], ['none', ['podcount'], 10, 1024]);
  const c = loadConfig({ PODCOUNT_AUTH: 'kubernetes', PODCOUNT_AUTH_AUDIENCES: ' podcount , podcount.example.com,podcount', PODCOUNT_AUTH_CACHE_SECONDS: '0', PODCOUNT_AUTH_CACHE_ENTRIES: '50' });
  assert.deepEqual([c.auth, c.authAudiences, c.authCacheSeconds, c.authCacheEntries], ['kubernetes', ['podcount', 'podcount.example.com'], 0, 50]);
  for (const [name, value] of [['PODCOUNT_AUTH', 'oidc'], ['PODCOUNT_AUTH_AUDIENCES', 'podcount,'], ['PODCOUNT_AUTH_AUDIENCES', 'a b'], ['PODCOUNT_AUTH_CACHE_SECONDS', '301'], ['PODCOUNT_AUTH_CACHE_ENTRIES', '0']] as const) {
    assert.throws(() => loadConfig({ [name]: value }), (err: unknown) => err instanceof ConfigError && err.message.startsWith(name), `${name}=${value}`);
  }
});

test('each setting comes from its own variable, trimmed; a blank one means the default', () => {
  const c = loadConfig({ PODCOUNT_API_TIMEOUT_MS: ' 2500 ', PODCOUNT_EXPIRED_RETRIES: '5', PODCOUNT_SERVICEACCOUNT_DIR: '/sa', PODCOUNT_MAX_BODY_BYTES: '16777216', K_SERVICE: 'counter', PODCOUNT_LOG_LEVEL: 'warn', PODCOUNT_DRAIN_TIMEOUT_MS: '0' });
  assert.deepEqual([c.apiTimeoutMs, c.expiredRetries, c.serviceAccountDir, c.maxBodyBytes, c.service, c.logLevel, c.drainTimeoutMs], [2500, 5, '/sa', 16 * 1024 * 1024, 'counter', 'warn', 0]);
  const d = loadConfig({ K_SERVICE: '   ', PODCOUNT_SERVICEACCOUNT_DIR: '' });
  assert.deepEqual([d.service, d.serviceAccountDir, d.apiTimeoutMs, d.expiredRetries, d.maxBodyBytes, d.logLevel, d.drainTimeoutMs], ['podcount', '/var/run/secrets/kubernetes.io/serviceaccount', 10_000, 2, 64 * 1024, 'info', 25_000]);
  assert.throws(() => loadConfig({ PODCOUNT_MAX_BODY_BYTES: String(16 * 1024 * 1024 + 1) }), /PODCOUNT_MAX_BODY_BYTES="16777217" must be a whole number from 0 to 16777216/);
  assert.throws(() => loadConfig({ PODCOUNT_LOG_LEVEL: 'loud' }), { message: 'PODCOUNT_LOG_LEVEL="loud" is not one of debug, info, warn, error, silent' });
});

test('switches read on/true/1/yes and off/false/0/no, in any case', () => {
  for (const on of ['on', 'TRUE', '1', 'Yes']) assert.equal(loadConfig({ PODCOUNT_DIAGNOSTICS: on }).diagnostics, true, on);
  for (const off of ['off', 'False', '0', 'NO']) assert.equal(loadConfig({ PODCOUNT_DIAGNOSTICS: off }).diagnostics, false, off);
  assert.throws(() => loadConfig({ PODCOUNT_DIAGNOSTICS: 'enabled' }), /PODCOUNT_DIAGNOSTICS="enabled" must be on or off/);
});
