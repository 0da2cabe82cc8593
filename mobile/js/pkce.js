// OAuth 2.0 authorization code with PKCE (RFC 7636), as a public client: the phone holds no secret, so the
// code is bound to a one-time verifier only this page knows.

export function base64url(bytes) {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function randomString(byteCount = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

export async function challengeFor(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(digest);
}

export async function discover(issuer) {
  const response = await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`, { cache: "no-store" });
  if (!response.ok) throw new Error(`innloggingstjenesten svarte ${response.status}`);
  return response.json();
}

// The authorization request, and what must be kept (in sessionStorage) to finish it after the redirect back.
export async function authorizationRequest({ discovery, clientId, scope, redirectUri }) {
  const verifier = randomString(48);
  const state = randomString(16);
  const params = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    scope,
    state,
    code_challenge: await challengeFor(verifier),
    code_challenge_method: "S256",
  });
  return {
    url: `${discovery.authorization_endpoint}?${params}`,
    pending: { verifier, state, tokenEndpoint: discovery.token_endpoint, clientId, redirectUri },
  };
}

export async function exchangeCode({ pending, code, state }) {
  if (!pending || state !== pending.state) throw new Error("innloggingen kunne ikke bekreftes (state)");
  const response = await fetch(pending.tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: pending.redirectUri,
      client_id: pending.clientId,
      code_verifier: pending.verifier,
    }),
    cache: "no-store",
  });
  if (!response.ok) throw new Error(`innloggingstjenesten avviste koden (${response.status})`);
  return response.json();
}
