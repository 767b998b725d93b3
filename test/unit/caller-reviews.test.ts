// The reviews podcount asks about a caller (caller-reviews.ts), each against a stub API server
// that answers one way: what exactly counts as "authenticated" and "allowed", and what a review
// answer that is odd but legal (200 instead of 201, fields left out) becomes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingReviewPermissions, subjectAccessReview, tokenReview } from '../../function/caller-reviews.ts';
import { PodcountError } from '../../function/errors.ts';
import { apiResponse, stubApi } from './stubs.ts';

const answering = (status: number, body: unknown) => stubApi(() => apiResponse(status, body));
const review = (status: object, audiences = ['podcount']) => tokenReview(answering(201, { status }), 't', audiences);
const user = { username: 'system:serviceaccount:team-a:alice', groups: ['system:authenticated'] };

test('a TokenReview vouches for a caller only when it says authenticated: true and names a user', async () => {
  assert.deepEqual(await review({ authenticated: false, user, audiences: ['podcount'], error: 'token expired' }), { authenticated: false, error: 'token expired' });
  assert.deepEqual(await review({ authenticated: 'true', user, audiences: ['podcount'] }), { authenticated: false, error: 'not authenticated' });
  assert.deepEqual(await review({ authenticated: true, audiences: ['podcount'] }), { authenticated: false, error: 'not authenticated' }, 'no user at all');
  assert.deepEqual(await review({ authenticated: true, user: { groups: ['x'] }, audiences: ['podcount'] }), { authenticated: false, error: 'not authenticated' });
});

test('a TokenReview must confirm one of podcount\'s own audiences; only the confirmed ones are kept', async () => {
  assert.deepEqual(await review({ authenticated: true, user, audiences: ['https://kubernetes.default.svc'] }, ['podcount', 'podcount.example.com']),
    { authenticated: false, error: 'the TokenReview did not confirm an audience of podcount, podcount.example.com' });
  assert.deepEqual(await review({ authenticated: true, user }), { authenticated: false, error: 'the TokenReview did not confirm an audience of podcount' });
  const ok = await review({ authenticated: true, user, audiences: ['other', 'podcount'] });
  assert.ok(ok.authenticated);
  assert.deepEqual(ok.audiences, ['podcount']);
});

test('the caller a TokenReview names has a uid only when the review gave one, and empty groups and extra when it gave none', async () => {
  assert.deepEqual(await review({ authenticated: true, user: { username: 'u' }, audiences: ['podcount'] }),
    { authenticated: true, caller: { username: 'u', groups: [], extra: {} }, audiences: ['podcount'] });
  assert.deepEqual(await review({ authenticated: true, user: { username: 'u', uid: 'id-1', groups: ['g'], extra: { k: ['v'] } }, audiences: ['podcount'] }),
    { authenticated: true, caller: { username: 'u', uid: 'id-1', groups: ['g'], extra: { k: ['v'] } }, audiences: ['podcount'] });
});

test('a review answered 200 (not 201) is read like any other', async () => {
  const r = await tokenReview(answering(200, { status: { authenticated: true, user, audiences: ['podcount'] } }), 't', ['podcount']);
  assert.equal(r.authenticated, true);
  assert.deepEqual(await subjectAccessReview(answering(200, { status: { allowed: true } }), { ...user, extra: {} }, {}), { allowed: true });
  assert.deepEqual(await missingReviewPermissions(answering(200, { status: { allowed: true } })), []);
});

test('a SubjectAccessReview\'s verdict carries a reason only when the API server gave one', async () => {
  const caller = { ...user, extra: {} };
  assert.deepEqual(await subjectAccessReview(answering(201, { status: { allowed: false } }), caller, { namespace: 'shop' }), { allowed: false });
  assert.deepEqual(await subjectAccessReview(answering(201, { status: { allowed: false, reason: '' } }), caller, { namespace: 'shop' }), { allowed: false });
  assert.deepEqual(await subjectAccessReview(answering(201, { status: { allowed: false, reason: 'no binding' } }), caller, {}), { allowed: false, reason: 'no binding' });
});

test('podcount\'s own review permissions: an answer without a status grants nothing; an odd status names the review asked', async () => {
  assert.deepEqual(await missingReviewPermissions(answering(201, {})), ['tokenreviews.authentication.k8s.io', 'subjectaccessreviews.authorization.k8s.io']);
  await assert.rejects(missingReviewPermissions(answering(404, { kind: 'Status', message: 'the server could not find the requested resource' })),
    (e: unknown) => e instanceof PodcountError && e.status === 502 && e.message === 'The API server answered 404 to a subjectaccessreviews request: the server could not find the requested resource');
});
