import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileToken, readClaims } from '../../function/token.ts';
import { jwt } from './stubs.ts';

test('bound token claims: ServiceAccount, expiry, bound object', () => {
  const c = readClaims(jwt({ iss: 'https://kubernetes.default.svc', aud: ['api'], exp: 1_900_000_000, iat: 1_899_996_400, sub: 'system:serviceaccount:podcount:podcount', 'kubernetes.io': { namespace: 'podcount', serviceaccount: { name: 'podcount', uid: 'u' }, pod: { name: 'p-1', uid: 'x' } } }));
  assert.deepEqual(c?.serviceAccount, { namespace: 'podcount', name: 'podcount' });
  assert.equal(c?.expiresAt, new Date(1_900_000_000_000).toISOString());
  assert.deepEqual(c?.boundTo, { kind: 'pod', name: 'p-1' });
});

test('legacy Secret tokens (default-token-xxxxx, like the rejected default account\'s) have flat claims and no expiry', () => {
  const c = readClaims(jwt({ iss: 'kubernetes/serviceaccount', 'kubernetes.io/serviceaccount/namespace': 'kube-system', 'kubernetes.io/serviceaccount/service-account.name': 'default' }));
  assert.deepEqual(c?.serviceAccount, { namespace: 'kube-system', name: 'default' });
  assert.equal(c?.expiresAt, undefined);
});

test('garbage is not a token', () => {
  assert.equal(readClaims('garbage'), undefined);
  assert.equal(readClaims('a.%%%.c'), undefined);
});

test('the token file is re-read on refresh, and refresh says whether it changed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podcount-token-'));
  try {
    const path = join(dir, 'token');
    writeFileSync(path, 'one\n');
    const t = new FileToken(path);
    assert.equal(t.get(), 'one');
    writeFileSync(path, 'two');
    assert.equal(t.get(), 'one', 'cached for up to 60 s');
    assert.equal(t.get(Date.now() + 61_000), 'two', 're-read after 60 s');
    writeFileSync(path, 'three');
    assert.equal(t.refresh(), true);
    assert.equal(t.refresh(), false);
    rmSync(path);
    assert.equal(t.refresh(), false);
    assert.match(t.lastError ?? '', /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failed re-read keeps the last good token (as client-go\'s cachingTokenSource) and says why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podcount-token-'));
  try {
    const path = join(dir, 'token');
    const t = new FileToken(path);
    assert.equal(t.get(), undefined, 'nothing to keep before a first good read');
    assert.match(t.lastError ?? '', /ENOENT/);
    writeFileSync(path, 'one');
    assert.equal(t.get(), 'one');
    rmSync(path);
    assert.equal(t.get(Date.now() + 61_000), 'one', 'the file is gone: the last good token stays');
    assert.match(t.lastError ?? '', /cannot read .*ENOENT/);
    writeFileSync(path, '  \n');
    assert.equal(t.refresh(), false, 'an empty file is no new token');
    assert.equal(t.get(), 'one');
    assert.match(t.lastError ?? '', /is empty/);
    writeFileSync(path, 'two');
    assert.equal(t.refresh(), true);
    assert.equal(t.get(), 'two');
    assert.equal(t.lastError, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every claim podcount reports is read only when it has the right type', () => {
  const c = readClaims(jwt({ iss: 'https://issuer', sub: 'system:serviceaccount:a:b', aud: ['podcount', 7, 'api'], iat: 1_800_000_000, exp: 1_800_003_600, 'kubernetes.io': { namespace: 'a', serviceaccount: { name: 'b' }, secret: {} } }));
  assert.deepEqual(c, {
    issuer: 'https://issuer',
    subject: 'system:serviceaccount:a:b',
    audiences: ['podcount', 'api'],
    issuedAt: new Date(1_800_000_000_000).toISOString(),
    expiresAt: new Date(1_800_003_600_000).toISOString(),
    serviceAccount: { namespace: 'a', name: 'b' },
    boundTo: { kind: 'secret', name: '' },
  });
  assert.deepEqual(readClaims(jwt({ iss: 1, sub: ['x'], aud: 'podcount', iat: '1', exp: null, 'kubernetes.io': { namespace: 3, serviceaccount: { name: 'b' } } })), {},
    'wrong types are left out, never passed on');
  assert.equal(readClaims('header-only'), undefined);
  assert.equal(readClaims('h..s'), undefined, 'an empty payload is no token');
});

test('the token is re-read once more than 60 s have passed since the last read, not before', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podcount-token-'));
  try {
    const path = join(dir, 'token');
    writeFileSync(path, 'one');
    const t = new FileToken(path);
    assert.equal(t.get(1_000), 'one');
    writeFileSync(path, 'two');
    assert.equal(t.get(61_000), 'one', 'exactly 60 s: still the cached one');
    assert.equal(t.get(61_001), 'two');
    assert.equal(new FileToken(join(dir, 'missing')).refresh(), false, 'no token read at all: nothing new to retry with');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the flat (legacy) claims name the ServiceAccount only when both are there', () => {
  const modern = { 'kubernetes.io': { namespace: 'a', serviceaccount: { name: 'b' } } };
  assert.deepEqual(readClaims(jwt({ ...modern, 'kubernetes.io/serviceaccount/namespace': 'x' }))?.serviceAccount, { namespace: 'a', name: 'b' });
  assert.deepEqual(readClaims(jwt({ ...modern, 'kubernetes.io/serviceaccount/service-account.name': 'y' }))?.serviceAccount, { namespace: 'a', name: 'b' });
});

test('a token file that cannot be read is named with the system\'s error code, no more', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podcount-token-'));
  try {
    const missing = new FileToken(join(dir, 'token'));
    missing.get();
    assert.equal(missing.lastError, `cannot read ${join(dir, 'token')}: ENOENT`);
    const directory = new FileToken(dir);
    directory.get();
    assert.equal(directory.lastError, `cannot read ${dir}: EISDIR`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a token whose payload is JSON but no object, or whose bound object is null, yields no claims to trust (never a crash)', () => {
  const raw = (payload: string) => `e30.${Buffer.from(payload).toString('base64url')}.sig`;
  for (const payload of ['null', '7', '"text"', 'true']) assert.equal(readClaims(raw(payload)), undefined, payload);
  assert.deepEqual(readClaims(jwt({ 'kubernetes.io': { namespace: 'a', pod: null, serviceaccount: { name: 'b' } } })), { serviceAccount: { namespace: 'a', name: 'b' } });
  assert.deepEqual(readClaims(jwt({ 'kubernetes.io': { pod: null, node: { name: 'n-1' } } }))?.boundTo, { kind: 'node', name: 'n-1' });
  assert.equal(readClaims(undefined), undefined, 'no token, no claims');
});
