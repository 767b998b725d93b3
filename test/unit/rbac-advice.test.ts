import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callerGrantFor, howToGetToken, reviewsFixFor, serviceAccountOf, tokenAdvice } from '../../function/rbac-advice.ts';

test('a username is a ServiceAccount only when it is exactly system:serviceaccount:NS:NAME', () => {
  assert.deepEqual(serviceAccountOf('system:serviceaccount:apps:podcount'), { namespace: 'apps', name: 'podcount' });
  for (const u of ['alice', 'x-system:serviceaccount:apps:podcount', 'system:serviceaccount:apps:podcount:extra', 'system:serviceaccount:apps']) {
    assert.equal(serviceAccountOf(u), undefined, u);
  }
  assert.equal(serviceAccountOf(undefined), undefined, 'no user known: no ServiceAccount');
  assert.equal(serviceAccountOf(null), undefined);
});

test('how to get a token names the first accepted audience and the caller\'s account when known', () => {
  assert.match(howToGetToken(['pc', 'other'], { namespace: 'shop', name: 'web' }), /^Get one for audience "pc": TOKEN=\$\(kubectl create token web -n shop --audience=pc\).*audience: pc/);
  assert.match(howToGetToken([]), /kubectl create token <serviceaccount> -n <namespace> --audience=podcount/);
});

test('each token problem has its own advice, naming the accepted audiences', () => {
  const audiences = ['podcount', 'pc.example.com'];
  const advice = (p: Parameters<typeof tokenAdvice>[0], o = {}) => tokenAdvice(p, audiences, o);
  assert.match(advice('missing'), /send Authorization: Bearer <token>, a Kubernetes ServiceAccount token for audience "podcount", "pc.example.com"\. Get one/);
  assert.match(advice('malformed'), /must read "Bearer <token>".*Get one/);
  assert.match(advice('audience'), /accepts tokens for audience "podcount", "pc.example.com" only.*Get one/);
  assert.match(advice('expired'), /last one hour.*read the file again.*Get one/);
  assert.match(advice('rejected', { sa: { namespace: 'shop', name: 'web' } }), /this token of ServiceAccount shop\/web: .*deleted.*kubectl create token web -n shop/);
  assert.match(advice('rejected'), /this token for audience "podcount", "pc.example.com": it is not a ServiceAccount token of this cluster/);
  assert.equal(new Set((['missing', 'malformed', 'audience', 'expired', 'rejected'] as const).map((p) => advice(p).split('. Get one')[0])).size, 5);
});

test('a caller\'s grant: a ServiceAccount or a user, cluster-wide or in a namespace, with the check to run', () => {
  assert.equal(callerGrantFor('system:serviceaccount:shop:web', 'shop'),
    'podcount counts for a caller only what the caller may list itself. Fix: kubectl create clusterrole pod-lister --verb=list --resource=pods (once per cluster), then kubectl create rolebinding pod-lister-shop-web -n shop --clusterrole=pod-lister --serviceaccount=shop:web. Check: kubectl auth can-i list pods -n shop --as=system:serviceaccount:shop:web.');
  assert.equal(callerGrantFor('oidc:alice/x%y'),
    'podcount counts for a caller only what the caller may list itself. Fix: kubectl create clusterrole pod-lister --verb=list --resource=pods (once per cluster), then kubectl create clusterrolebinding pod-lister-oidc:alice-x-y --clusterrole=pod-lister --user=oidc:alice/x%y. Check: kubectl auth can-i list pods --all-namespaces --as=oidc:alice/x%y.');
});

test('a Knative Trigger\'s OIDC identity is recognised and named as that Trigger', () => {
  assert.match(callerGrantFor('system:serviceaccount:podcount:count-requests-oidc-eventing.knative.dev-trigger'),
    / This is the OIDC identity Knative Eventing gives Trigger podcount\/count-requests; knative\/components\/caller-auth grants it/);
  assert.doesNotMatch(callerGrantFor('system:serviceaccount:podcount:count-requests-oidc-eventing.knative.dev-trigger-x'), /OIDC identity/);
  assert.doesNotMatch(callerGrantFor('x:system:serviceaccount:podcount:t-oidc-eventing.knative.dev-trigger'), /OIDC identity/);
});

test('what podcount needs to review callers names its own account, or a placeholder', () => {
  assert.match(reviewsFixFor({ namespace: 'podcount', name: 'podcount' }), /--clusterrole=podcount-caller-reviews --serviceaccount=podcount:podcount \(or add knative\/components\/caller-auth/);
  assert.match(reviewsFixFor(undefined), /--serviceaccount=<namespace>:<name>/);
});
