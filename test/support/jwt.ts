// ServiceAccount tokens signed with the test control plane's own signing key, for the tokens the
// TokenRequest API will not issue: one that has already expired (it refuses expirations under
// 600 s). kube-apiserver verifies them like any token it issued, so it refuses them for the
// reason the test means (here: "service account token has expired"), not for a bad signature.
import { createPrivateKey, createSign, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SA_PRIVATE_KEY_FILE } from './certs.ts';
import type { ControlPlane } from './controlplane.ts';
import { SERVICE_ACCOUNT_ISSUER } from './defaults.ts';

/** A token of ServiceAccount namespace/name for `audiences`, valid from `issuedAt` until `expiresAt` (Unix seconds). */
export async function signServiceAccountToken(cp: ControlPlane, namespace: string, name: string, o: { audiences: string[]; issuedAt: number; expiresAt: number }): Promise<string> {
  const sa = await cp.admin.must(`/api/v1/namespaces/${namespace}/serviceaccounts/${name}`);
  // The claims TokenRequest puts in a token that is bound to nothing but its ServiceAccount.
  const claims = {
    aud: o.audiences, exp: o.expiresAt, iat: o.issuedAt, nbf: o.issuedAt, iss: SERVICE_ACCOUNT_ISSUER, jti: randomUUID(),
    sub: `system:serviceaccount:${namespace}:${name}`,
    'kubernetes.io': { namespace, serviceaccount: { name, uid: sa.json.metadata.uid as string } },
  };
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const signed = `${part({ alg: 'ES256', typ: 'JWT' })}.${part(claims)}`;
  const key = createPrivateKey(readFileSync(join(cp.dir, SA_PRIVATE_KEY_FILE)));
  // JWS wants the raw r||s signature, not DER.
  return `${signed}.${createSign('SHA256').update(signed).sign({ key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}
