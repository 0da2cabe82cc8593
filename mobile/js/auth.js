// The session: who is signed in, with which token, until when, and when this device must forget the patients.

import { authorizationRequest, discover, exchangeCode } from "./pkce.js";
import { store, wipeDevice } from "./store.js";

const PKCE_KEY = "pml.pkce";

export function tokenClaims(token) {
  const [, payload] = token.trim().split(".");
  if (!payload) throw new Error("dette ser ikke ut som et token");
  const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}

function newSession(token, config) {
  const claims = tokenClaims(token);
  const now = Date.now();
  if (claims.exp && claims.exp * 1000 <= now) throw new Error("tokenet er utløpt");
  return {
    token: token.trim(),
    expires_at: claims.exp ? claims.exp * 1000 : now + 3600_000,
    wipe_at: now + config.retention_hours * 3600_000,
    subject: claims.sub,
    name: claims.name || claims.sub,
    role: claims.pml_role,
  };
}

export async function currentSession() {
  return (await store.get("session", "current")) ?? null;
}

// The same nurse signing in again after her token expired keeps the shift (its patients, its outbox and its
// wipe time). Someone else gets a clean device: another nurse's patients and unsent records are not theirs.
export async function signInWithToken(token, config) {
  const session = newSession(token, config);
  const previous = await currentSession();
  if (previous && previous.subject === session.subject) session.wipe_at = previous.wipe_at;
  else if (previous) await wipeDevice();
  await store.put("session", session, "current");
  return session;
}

export async function startOAuthSignIn(config) {
  const discovery = await discover(config.auth.issuer);
  const { url, pending } = await authorizationRequest({
    discovery, clientId: config.auth.client_id, scope: config.auth.scope, redirectUri: redirectUri(),
  });
  sessionStorage.setItem(PKCE_KEY, JSON.stringify(pending));
  location.assign(url);
}

// After the issuer redirected back with ?code=…&state=…: exchange the code, then drop it from the address bar.
export async function completeOAuthSignIn(config) {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return null;
  history.replaceState(null, "", redirectUri());
  const pending = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  if (params.has("error")) throw new Error(params.get("error_description") || params.get("error"));
  const tokens = await exchangeCode({ pending, code: params.get("code"), state: params.get("state") });
  return signInWithToken(tokens.access_token, config);
}

function redirectUri() {
  return new URL("./", location.href).href.split("?")[0];
}
