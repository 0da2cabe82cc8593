// The PML API over HTTP. Every call states the purpose of use (treatment) and is never stored by the HTTP cache:
// patient data lives only in IndexedDB, where sign-out can wipe it.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export class OfflineError extends Error {}

export class AuthError extends ApiError {}

export class Api {
  constructor(base, getToken) {
    this.base = base;
    this.getToken = getToken;
  }

  async request(method, path, { body, idempotencyKey } = {}) {
    const headers = { Authorization: `Bearer ${await this.getToken()}`, "X-PML-Purpose": "TREAT", Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    let response;
    try {
      response = await fetch(this.base + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
      });
    } catch (error) {
      throw new OfflineError(error.message);
    }
    if (response.ok) return response.status === 204 ? null : response.json();
    const problem = await response.json().catch(() => ({ title: response.statusText }));
    throw new (response.status === 401 ? AuthError : ApiError)(response.status, problem);
  }

  patientPath(patientId, suffix = "") {
    return `/patients/${encodeURIComponent(patientId)}${suffix}`;
  }

  list(patientId) { return this.request("GET", this.patientPath(patientId, "/medication-list")); }

  changesSince(patientId, version) {
    return this.request("GET", this.patientPath(patientId, `/medication-list/changes?since=${version}`));
  }

  doses(patientId, date) { return this.request("GET", this.patientPath(patientId, `/doses?date=${date}`)); }

  interactions(patientId) { return this.request("GET", this.patientPath(patientId, "/interactions")); }

  administrations(patientId, date) {
    return this.request("GET", this.patientPath(patientId, `/administrations?date=${date}`));
  }

  record(patientId, body, idempotencyKey) {
    return this.request("POST", this.patientPath(patientId, "/administrations"), { body, idempotencyKey });
  }
}

// Worth trying again later with the same Idempotency-Key: no answer, or an answer that says "not now".
export function isRetryable(error) {
  return error instanceof OfflineError || error instanceof AuthError
    || [408, 425, 429, 500, 502, 503, 504].includes(error.status);
}
