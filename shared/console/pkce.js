// "Sign in with SSO": the OAuth 2.0 authorization code flow with PKCE (RFC 7636, S256) as a
// public client, run in the browser. The API's GET /v1/console-config gives the issuer, client
// id and endpoints (only when single sign-on is configured). The verifier and state live in
// sessionStorage between the redirect out and back; the ID token the token endpoint returns is
// then the console's bearer token, checked by the API like any other.
// Pure functions apart from `randomBytes`, so tests/browser/pkce.test.mjs checks them in Node.

/** base64url without padding (RFC 4648 §5), as PKCE and JWTs use it. */
export function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function randomBytes(n) {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** A code verifier: 32 random bytes as 43 base64url characters (RFC 7636 §4.1). */
export function newVerifier(random = randomBytes) {
  return base64url(random(32));
}

/** The S256 code challenge of a verifier: base64url(SHA-256(ASCII(verifier))) (§4.2). */
export async function challenge(verifier) {
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) {
    throw new Error('a PKCE verifier is 43 to 128 unreserved characters');
  }
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** Where to send the browser to sign in. */
export function authorizeUrl(sso, { redirectUri, state, codeChallenge }) {
  const url = new URL(sso.authorization_endpoint);
  const params = {
    response_type: 'code',
    client_id: sso.client_id,
    redirect_uri: redirectUri,
    scope: sso.scope || 'openid',
    state,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/**
 * The code from the page's query after the redirect back, checked against the state this tab
 * sent; null when the query is no sign-in answer. Throws an Error in words otherwise.
 * `consumed` runs first whenever the query is a sign-in answer (to clear it away).
 */
export function callbackCode(search, expectedState, consumed = () => {}) {
  const q = new URLSearchParams(search);
  if (!q.has('code') && !q.has('error')) return null;
  consumed();
  if (q.has('error')) {
    const why = q.get('error_description') || q.get('error');
    throw new Error(`The sign-in was refused: ${why}`);
  }
  if (!expectedState || q.get('state') !== expectedState) {
    throw new Error('The sign-in answer does not match a sign-in this tab started; try again.');
  }
  return q.get('code');
}

/** The token request's form body (no client secret: a public client proves itself with PKCE). */
export function tokenRequestBody(sso, { code, verifier, redirectUri }) {
  return new URLSearchParams({
    grant_type: 'authorization_code',
    client_id: sso.client_id,
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
  });
}
