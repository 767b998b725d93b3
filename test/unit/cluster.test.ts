// Where podcount finds the API server and its credentials (cluster.ts), from files and variables
// laid out in a temporary folder: the mounted ServiceAccount, a kubeconfig, and nothing. The
// kubelet-projected files of a real pod are in test/e2e; a real API server in test/integration.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { resolveCluster, type Resolution, type ClusterTarget } from '../../function/cluster.ts';
import { loadConfig } from '../../function/config.ts';
import { jwt } from './stubs.ts';

const root = mkdtempSync(join(tmpdir(), 'podcount-cluster-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const folder = () => {
  const dir = join(root, String(n++));
  mkdirSync(dir, { recursive: true });
  return dir;
};

const SA_TOKEN = jwt({ iss: 'https://kubernetes.default.svc', 'kubernetes.io': { namespace: 'podcount', serviceaccount: { name: 'podcount', uid: 'u' } } });

/** A ServiceAccount folder as the kubelet projects it; `omit` leaves files out. */
function serviceAccountDir(files: Partial<Record<'token' | 'ca.crt' | 'namespace', string>> = {}, omit: string[] = []): string {
  const dir = folder();
  const all = { token: `${SA_TOKEN}\n`, 'ca.crt': 'CA PEM\n', namespace: 'podcount\n', ...files };
  for (const [name, content] of Object.entries(all)) if (!omit.includes(name)) writeFileSync(join(dir, name), content);
  return dir;
}

const resolve = (dir: string, env: Record<string, string | undefined>) => resolveCluster(loadConfig({ PODCOUNT_SERVICEACCOUNT_DIR: dir }), env);
const POD_ENV = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

function ok(r: Resolution): ClusterTarget {
  assert.ok(r.ok, r.ok ? '' : r.why);
  return r.target;
}

describe('in a pod (the mounted ServiceAccount)', () => {
  test('speaks https to KUBERNETES_SERVICE_HOST:PORT, verifies with ca.crt, and knows its namespace and ServiceAccount', async () => {
    const dir = serviceAccountDir();
    const t = ok(await resolve(dir, { ...POD_ENV, KUBECONFIG: '/nonexistent' }));
    assert.equal(t.source, 'in-cluster');
    assert.equal(t.server, 'https://10.96.0.1:443');
    assert.equal(t.ownNamespace, 'podcount');
    assert.deepEqual(t.tls, { ca: Buffer.from('CA PEM\n'), rejectUnauthorized: true });
    assert.equal(t.caPath, join(dir, 'ca.crt'));
    assert.deepEqual(t.identity, { source: 'in-cluster', tokenPath: join(dir, 'token'), username: 'system:serviceaccount:podcount:podcount' });
    assert.deepEqual(t.notes, [`in-cluster: https://10.96.0.1:443, ServiceAccount folder ${dir}`]);
  });

  test('hands out the token as a bearer header, re-reads it when asked, and says why a re-read failed', async () => {
    const dir = serviceAccountDir();
    const c = ok(await resolve(dir, POD_ENV)).credentials;
    assert.equal(await c.authorization(), `Bearer ${SA_TOKEN}`);
    assert.equal(c.currentToken(), SA_TOKEN);
    assert.equal(c.readError(), undefined);
    assert.equal(await c.refresh(), false, 'the same token: a retry would not help');
    writeFileSync(join(dir, 'token'), 'rotated');
    assert.equal(await c.refresh(), true);
    assert.equal(await c.authorization(), 'Bearer rotated');
    rmSync(join(dir, 'token'));
    assert.equal(await c.refresh(), false);
    assert.equal(c.currentToken(), 'rotated', 'the last good token stays in use');
    assert.match(c.readError() ?? '', /cannot read .*token: ENOENT/);
  });

  test('a token file that is empty from the start gives no Authorization header', async () => {
    const c = ok(await resolve(serviceAccountDir({ token: '' }), POD_ENV)).credentials;
    assert.equal(await c.authorization(), undefined);
  });

  test('an IPv6 service host is bracketed, and spaces around the variables are ignored', async () => {
    const t = ok(await resolve(serviceAccountDir(), { KUBERNETES_SERVICE_HOST: ' fd00:10:96::1 ', KUBERNETES_SERVICE_PORT: ' 6443 ' }));
    assert.equal(t.server, 'https://[fd00:10:96::1]:6443');
  });

  test('without ca.crt it still connects, verifying against the system roots, and says so', async () => {
    const dir = serviceAccountDir({}, ['ca.crt']);
    const t = ok(await resolve(dir, POD_ENV));
    assert.equal(t.tls.ca, undefined);
    assert.equal(t.tls.rejectUnauthorized, true, 'never insecure');
    assert.equal(t.caPath, undefined);
    assert.ok(t.notes.includes(`no CA at ${join(dir, 'ca.crt')}: the API server is verified against the system roots only`), t.notes.join('\n'));
  });

  test('without a namespace file (or an empty one) its namespace is unknown, and says so', async () => {
    for (const dir of [serviceAccountDir({}, ['namespace']), serviceAccountDir({ namespace: ' \n' })]) {
      const t = ok(await resolve(dir, POD_ENV));
      assert.equal(t.ownNamespace, undefined);
      assert.ok(t.notes.includes(`no namespace file in ${dir}`), t.notes.join('\n'));
    }
  });

  test('a token that names no ServiceAccount leaves the username unknown', async () => {
    const t = ok(await resolve(serviceAccountDir({ token: jwt({ iss: 'x' }) }), POD_ENV));
    assert.equal(t.identity.username, undefined);
    assert.ok(!('username' in t.identity));
  });

  for (const [what, env] of [['HOST', { KUBERNETES_SERVICE_PORT: '443' }], ['PORT', { KUBERNETES_SERVICE_HOST: '10.96.0.1' }], ['HOST (blank)', { KUBERNETES_SERVICE_HOST: ' ', KUBERNETES_SERVICE_PORT: '443' }]] as const) {
    test(`without KUBERNETES_SERVICE_${what} it is not in a pod: no cluster, and the reason is noted`, async () => {
      const r = await resolve(serviceAccountDir(), { ...env, HOME: folder() });
      assert.equal(r.ok, false);
      assert.ok(!r.ok);
      assert.equal(r.why, 'not in a pod with a ServiceAccount token, and no kubeconfig found');
      assert.equal(r.notes[0], 'KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set: not running in a pod');
    });
  }

  test('in a pod without a mounted token it asks whether automountServiceAccountToken is false', async () => {
    const dir = serviceAccountDir({}, ['token']);
    const r = await resolve(dir, { ...POD_ENV, HOME: folder() });
    assert.ok(!r.ok);
    assert.equal(r.notes[0], `KUBERNETES_SERVICE_HOST is set but there is no token at ${join(dir, 'token')}: is automountServiceAccountToken false for this pod or its ServiceAccount?`);
  });
});

describe('from a kubeconfig', () => {
  // client-node reads KUBECONFIG from process.env itself, so these tests set it there too.
  let saved: string | undefined;
  beforeEach(() => { saved = process.env['KUBECONFIG']; });
  afterEach(() => {
    if (saved === undefined) delete process.env['KUBECONFIG'];
    else process.env['KUBECONFIG'] = saved;
  });

  const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  function kubeconfig(o: { server?: string; namespace?: string; skipTLSVerify?: boolean; user?: string; caFile?: string } = {}, dir = folder()): string {
    const path = join(dir, 'config');
    const cluster: Record<string, unknown> = { server: o.server ?? 'https://127.0.0.1:6443/' };
    if (o.caFile) cluster['certificate-authority'] = o.caFile;
    else cluster['certificate-authority-data'] = CA.toString('base64');
    if (o.skipTLSVerify) cluster['insecure-skip-tls-verify'] = true;
    const context: Record<string, unknown> = { cluster: 'c', user: 'u' };
    if (o.namespace) context['namespace'] = o.namespace;
    writeFileSync(path, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'ctx',
      clusters: [{ name: 'c', cluster }],
      contexts: [{ name: 'ctx', context }],
      users: [{ name: o.user ?? 'u', user: { token: 'kc-token' } }],
    }));
    return path;
  }
  /** A kubeconfig of one cluster, context and user, written as given (the defaults: a usable one). */
  function rawKubeconfig(o: { context?: { cluster: string; user: string }; user: object }, dir = folder()): string {
    const path = join(dir, 'config');
    writeFileSync(path, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'ctx',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443' } }],
      contexts: [{ name: 'ctx', context: o.context ?? { cluster: 'c', user: 'u' } }],
      users: [{ name: 'u', user: o.user }],
    }));
    return path;
  }
  const execUser = (command: string) => ({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command, interactiveMode: 'Never' } });
  const resolveKc = (path: string, env: Record<string, string | undefined> = {}) => {
    process.env['KUBECONFIG'] = path;
    return resolve(serviceAccountDir(), { KUBECONFIG: path, ...env });
  };

  test('outside a pod it uses KUBECONFIG: its server (without trailing slashes), CA, token, user and namespace', async () => {
    const path = kubeconfig({ namespace: 'team-a', server: 'https://127.0.0.1:6443///' });
    const t = ok(await resolveKc(path));
    assert.equal(t.source, 'kubeconfig');
    assert.equal(t.server, 'https://127.0.0.1:6443');
    assert.equal(t.ownNamespace, 'team-a');
    assert.deepEqual(t.tls.ca, CA);
    assert.equal(t.tls.rejectUnauthorized, true);
    assert.deepEqual(t.identity, { source: 'kubeconfig', kubeconfig: path, username: 'u' });
    assert.equal(await t.credentials.authorization(), 'Bearer kc-token');
    assert.equal(t.credentials.currentToken(), 'kc-token');
    assert.equal(t.credentials.readError(), undefined);
    assert.equal(await t.credentials.refresh(), false, 'the same token: no retry');
    assert.deepEqual(t.notes, ['KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set: not running in a pod', `kubeconfig ${path}: context ctx, server https://127.0.0.1:6443//`], 'client-node strips one slash itself');
  });

  test('a context without a namespace counts in "default", as kubectl does', async () => {
    assert.equal(ok(await resolveKc(kubeconfig())).ownNamespace, 'default');
  });

  test('insecure-skip-tls-verify turns verification off, and a CA file is named for hints', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'ca.crt'), CA);
    const t = ok(await resolveKc(kubeconfig({ skipTLSVerify: true, caFile: join(dir, 'ca.crt') })));
    assert.equal(t.tls.rejectUnauthorized, false);
    assert.equal(t.caPath, join(dir, 'ca.crt'));
  });

  test('a kubeconfig whose current context names no cluster is unusable, and the reason says which', async () => {
    const path = rawKubeconfig({ context: { cluster: 'gone', user: 'u' }, user: { token: 't' } });
    const r = await resolveKc(path);
    assert.ok(!r.ok);
    assert.equal(r.why, `kubeconfig ${path} is unusable: its current context "ctx" names no cluster server`);
    assert.equal(r.notes.at(-1), r.why);
  });

  test('a kubeconfig that does not parse is unusable, with the parser\'s reason', async () => {
    const dir = folder();
    const path = join(dir, 'config');
    writeFileSync(path, 'clusters: [');
    const r = await resolveKc(path);
    assert.ok(!r.ok);
    assert.match(r.why, new RegExp(`^kubeconfig ${path} is unusable: .+`));
  });

  test('an exec plugin\'s new credentials are picked up by refresh() after a 401', async () => {
    const dir = folder();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'first');
    const plugin = join(dir, 'plugin.sh');
    // An already expired credential, so client-node runs the plugin at every refresh.
    writeFileSync(plugin, `#!/bin/sh\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2000-01-01T00:00:00Z"}}' "$(cat ${tokenFile})"\n`);
    chmodSync(plugin, 0o755);
    const path = rawKubeconfig({ user: execUser(plugin) }, dir);
    const c = ok(await resolveKc(path)).credentials;
    assert.equal(await c.authorization(), 'Bearer first');
    assert.equal(await c.refresh(), false, 'unchanged');
    writeFileSync(tokenFile, 'second');
    assert.equal(await c.refresh(), true);
    assert.equal(await c.authorization(), 'Bearer second');
    assert.equal(c.currentToken(), 'second');
  });

  test('a kubeconfig user without credentials gives no Authorization header and nothing to retry with', async () => {
    const path = rawKubeconfig({ user: {} });
    const c = ok(await resolveKc(path)).credentials;
    assert.equal(await c.authorization(), undefined);
    assert.equal(c.currentToken(), undefined);
    assert.equal(await c.refresh(), false);
  });

  test('a context whose user is not in the kubeconfig connects anonymously: no username, no Authorization, nothing to refresh', async () => {
    const path = rawKubeconfig({ context: { cluster: 'c', user: 'ghost' }, user: { token: 'not-mine' } });
    const t = ok(await resolveKc(path));
    assert.deepEqual(t.identity, { source: 'kubeconfig', kubeconfig: path });
    assert.equal(await t.credentials.authorization(), undefined);
    assert.equal(await t.credentials.refresh(), false);
    assert.equal(t.credentials.currentToken(), undefined);
  });

  test('an exec plugin that stops giving a token (a client certificate instead) is no reason to retry, and no token is sent after', async () => {
    const dir = folder();
    const mode = join(dir, 'mode');
    writeFileSync(mode, 'token');
    const plugin = join(dir, 'plugin.sh');
    writeFileSync(plugin, `#!/bin/sh
if [ "$(cat ${mode})" = token ]; then status='{"token":"t1","expirationTimestamp":"2000-01-01T00:00:00Z"}'
else status='{"clientCertificateData":"CERT","clientKeyData":"KEY","expirationTimestamp":"2000-01-01T00:00:00Z"}'; fi
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":%s}' "$status"
`);
    chmodSync(plugin, 0o755);
    const path = rawKubeconfig({ user: execUser(plugin) }, dir);
    const c = ok(await resolveKc(path)).credentials;
    assert.equal(await c.authorization(), 'Bearer t1');
    writeFileSync(mode, 'cert');
    assert.equal(await c.refresh(), false, 'the credentials changed, but there is no token to retry with');
    assert.equal(await c.authorization(), undefined);
  });

  test('without KUBECONFIG, HOME, or a home for the user, there is no cluster, and the note says why', async () => {
    const r = await resolveCluster(loadConfig({ PODCOUNT_SERVICEACCOUNT_DIR: serviceAccountDir() }), {}, () => undefined);
    assert.ok(!r.ok);
    assert.equal(r.notes.at(-1), 'KUBECONFIG is not set and there is no home folder to look for ~/.kube/config in');
  });

  test('without KUBECONFIG it looks for ~/.kube/config under HOME', async () => {
    const home = folder();
    mkdirSync(join(home, '.kube'));
    const path = kubeconfig({}, join(home, '.kube'));
    delete process.env['KUBECONFIG'];
    const savedHome = process.env['HOME'];
    process.env['HOME'] = home; // client-node finds ~/.kube/config through HOME itself
    try {
      const t = ok(await resolve(serviceAccountDir(), { HOME: ` ${home} ` }));
      assert.equal(t.identity.kubeconfig, path);
      // No HOME in the environment given: the user's home (os.homedir(), which reads HOME) is used.
      assert.equal(ok(await resolve(serviceAccountDir(), {})).identity.kubeconfig, path);
    } finally {
      process.env['HOME'] = savedHome;
    }
  });

  test('without KUBECONFIG and ~/.kube/config there is no cluster, and the path looked at is noted', async () => {
    const home = folder();
    const r = await resolve(serviceAccountDir(), { HOME: home, KUBECONFIG: '  ' });
    assert.ok(!r.ok);
    assert.equal(r.notes.at(-1), `KUBECONFIG is not set and ${join(home, '.kube', 'config')} does not exist`);
  });
});
