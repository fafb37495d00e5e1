// Unit checks of the console's PKCE pieces (shared/console/pkce.js) in Node, no browser:
// started by tests/integration/console.rs (console_pkce_pieces_follow_rfc_7636).
// Exits non-zero at the first failed check, naming it.

import assert from 'node:assert/strict';
import * as pkce from '../../shared/console/pkce.js';

const sso = {
  issuer: 'https://issuer.example',
  client_id: 'client-1',
  authorization_endpoint: 'https://login.example/oauth2/authorize?tenant=x',
  token_endpoint: 'https://login.example/oauth2/token',
  scope: 'openid email',
};
const redirectUri = 'http://127.0.0.1:3000/console';

try {
  // RFC 7636 Appendix B: the verifier is the base64url of 32 octets, its S256 challenge is known.
  const rfcVerifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
  const octets = Uint8Array.from(Buffer.from(rfcVerifier, 'base64url'));
  assert.equal(octets.length, 32);
  assert.equal(pkce.newVerifier(() => octets), rfcVerifier, 'the verifier is base64url of 32 octets, unpadded');
  assert.equal(await pkce.challenge(rfcVerifier), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', 'the S256 challenge of RFC 7636 B');

  // A fresh verifier: 43 unreserved characters, a new one each time.
  const a = pkce.newVerifier();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, pkce.newVerifier());
  await assert.rejects(pkce.challenge('short'), /43 to 128/);
  await assert.rejects(pkce.challenge(`${rfcVerifier}+`), /43 to 128/);

  // The authorization request: S256, the challenge, state and redirect; the endpoint's own query kept.
  const url = new URL(pkce.authorizeUrl(sso, { redirectUri, state: 'st-1', codeChallenge: 'ch-1' }));
  assert.equal(url.origin + url.pathname, 'https://login.example/oauth2/authorize');
  assert.deepEqual(Object.fromEntries(url.searchParams), {
    tenant: 'x', response_type: 'code', client_id: 'client-1', redirect_uri: redirectUri,
    scope: 'openid email', state: 'st-1', code_challenge: 'ch-1', code_challenge_method: 'S256',
  });

  // The answer: the code only with this tab's state; a refusal in words; no answer is null.
  assert.equal(pkce.callbackCode('?code=c-1&state=st-1', 'st-1'), 'c-1');
  assert.equal(pkce.callbackCode('', 'st-1'), null);
  assert.equal(pkce.callbackCode('?foo=1', 'st-1', () => assert.fail('no answer to clear')), null);
  let cleared = 0;
  assert.throws(() => pkce.callbackCode('?code=c-1&state=forged', 'st-1', () => { cleared += 1; }), /does not match/);
  assert.equal(cleared, 1, 'a refused answer is cleared away too');
  assert.throws(() => pkce.callbackCode('?code=c-1&state=other', 'st-1'), /does not match/);
  assert.throws(() => pkce.callbackCode('?code=c-1&state=st-1', null), /does not match/);
  assert.throws(() => pkce.callbackCode('?error=access_denied&error_description=User+said+no&state=st-1', 'st-1'),
    /refused: User said no/);

  // The token request: the code grant with the verifier and no client secret.
  const body = pkce.tokenRequestBody(sso, { code: 'c-1', verifier: rfcVerifier, redirectUri });
  assert.deepEqual(Object.fromEntries(body), {
    grant_type: 'authorization_code', client_id: 'client-1', code: 'c-1', redirect_uri: redirectUri,
    code_verifier: rfcVerifier,
  });
  console.log('pkce: ok');
} catch (err) {
  console.error(`FAILED: ${err.stack || err}`);
  process.exitCode = 1;
}
