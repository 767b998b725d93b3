// Key material for one control plane, generated per run: a CA and a serving certificate for
// kube-apiserver (SANs 127.0.0.1 and localhost, so in-cluster clients verify it as in a pod), and
// the key pair that signs ServiceAccount tokens. openssl ships with every Debian; Node's crypto
// cannot issue X.509 certificates.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  caCert: string;
  caPem: string;
  servingCert: string;
  servingKey: string;
  saPublicKey: string;
  saPrivateKey: string;
}

/** The ServiceAccount signing key's file name in the control plane's folder (jwt.ts signs with it). */
export const SA_PRIVATE_KEY_FILE = 'sa.key';

export function generateCerts(dir: string): CertFiles {
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=podcount-test-ca', '-keyout', f('ca.key'), '-out', f('ca.crt'));
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', '/CN=kube-apiserver', '-keyout', f('apiserver.key'), '-out', f('apiserver.csr'));
  writeFileSync(f('apiserver.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', f('apiserver.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', f('apiserver.ext'), '-out', f('apiserver.crt'));
  const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(f('sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(f(SA_PRIVATE_KEY_FILE), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return {
    caCert: f('ca.crt'),
    caPem: readFileSync(f('ca.crt'), 'utf8'),
    servingCert: f('apiserver.crt'),
    servingKey: f('apiserver.key'),
    saPublicKey: f('sa.pub'),
    saPrivateKey: f(SA_PRIVATE_KEY_FILE),
  };
}
