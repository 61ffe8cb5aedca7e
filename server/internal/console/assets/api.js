// The console's calls: JSON to the admin API's JSON door, with the key
// signed in for this browser session. The key lives in sessionStorage
// only: it goes with each call in a header, never in a cookie.
const KEY = 'pdp-console-key';

export function signedIn() { return sessionStorage.getItem(KEY) !== null; }
export function signIn(key) { sessionStorage.setItem(KEY, key); }
export function signOut() { sessionStorage.removeItem(KEY); }

// APIError is a refused call: the HTTP status and the API's JSON error
// (code, message, field_violations, precondition_violations).
export class APIError extends Error {
  constructor(status, body) {
    super(body.message || ('HTTP ' + status));
    this.status = status;
    this.code = body.code || '';
    this.fields = body.field_violations || [];
    this.preconditions = body.precondition_violations || [];
  }
}

// call makes one call of service/method with body.
export async function call(method, body) {
  const headers = { 'Content-Type': 'application/json', 'X-PDP-Console': '1' };
  const key = sessionStorage.getItem(KEY);
  if (key) headers['X-PDP-Api-Key'] = key;
  const resp = await fetch('api/' + method, {
    method: 'POST', headers, body: JSON.stringify(body),
    credentials: 'omit', cache: 'no-store', redirect: 'error',
  });
  let data;
  try { data = await resp.json(); } catch { data = { code: 'UNKNOWN', message: resp.status + ' ' + resp.statusText }; }
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

export const admin = (method, body) => call('pdp.v1.PolicyAdminService/' + method, body || {});
export const decisions = (method, body) => call('pdp.v1.DecisionService/' + method, body || {});

// allPages collects a paged list call's items.
export async function allPages(method, body, items, max = 20) {
  const out = [];
  let token = '';
  for (let i = 0; i < max; i++) {
    const resp = await admin(method, { ...body, pageSize: 1000, pageToken: token });
    out.push(...(resp[items] || []));
    token = resp.nextPageToken || '';
    if (!token) break;
  }
  return out;
}
