// The GraphQL client: POST /graphql with the bearer token kept in sessionStorage.

const KEY = 'myAccess.token';
export const MAX_TOKEN_BYTES = 8192;
export const REFUSED = 'This token was refused (expired, or not issued by this server).';

export const session = {
  get token() { return sessionStorage.getItem(KEY); },
  set(token) { sessionStorage.setItem(KEY, token); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class GqlError extends Error {
  constructor(message, code, errors = [], status = 200) {
    super(message);
    this.code = code;
    this.errors = errors;
    this.status = status;
  }
  /** Every problem as text: the message, or each `extensions.problems` entry with its path. */
  get details() {
    const out = [];
    for (const e of this.errors) {
      const problems = e.extensions?.problems;
      if (Array.isArray(problems) && problems.length) {
        for (const p of problems) out.push(p.path ? `${p.path}: ${p.message}` : p.message);
      } else out.push(e.message);
    }
    return out.length ? out : [this.message];
  }
}

let onUnauthorized = () => {};
/** Called when the server refuses the session's token (HTTP 401). */
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

/** Runs a query or mutation; throws a GqlError carrying `extensions.code` on any error. */
export async function gql(query, variables = {}, token = session.token) {
  let res;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: token ? { 'content-type': 'application/json', authorization: `Bearer ${token}` } : { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new GqlError('The server could not be reached. Check your connection and try again.', 'NETWORK');
  }
  if (res.status === 401) {
    if (token === session.token) onUnauthorized();
    throw new GqlError(REFUSED, 'UNAUTHENTICATED', [], 401);
  }
  if (res.status === 429) {
    throw new GqlError('Too many requests: wait a moment and try again.', 'THROTTLED', [], 429);
  }
  let body;
  try { body = await res.json(); } catch {
    throw new GqlError(`The server answered ${res.status}.`, 'HTTP', [], res.status);
  }
  if (body.errors?.length) {
    const first = body.errors[0];
    const err = new GqlError(first.message, first.extensions?.code || 'ERROR', body.errors, res.status);
    err.data = body.data;
    throw err;
  }
  return body.data;
}

/**
 * Checks a pasted token before anything is sent: null when it looks like a JWT, else why not.
 * Returns the normalized token too (whitespace and a `Bearer ` prefix removed).
 */
export function checkToken(raw) {
  const token = String(raw || '').trim().replace(/^Bearer\s+/i, '');
  if (!token) return { error: 'Paste your access token.' };
  if (new TextEncoder().encode(token).length > MAX_TOKEN_BYTES) {
    return { error: 'This token is too large (over 8 KB). Paste only the access token the server printed.' };
  }
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
    return { error: 'This is not a token: an access token has three base64url parts separated by dots (xxxxx.yyyyy.zzzzz).' };
  }
  if (!claims(token)) return { error: 'This is not a token: its middle part is not base64url-encoded JSON.' };
  return { token };
}

/** The token's claims, decoded client side for display only (never trusted). */
export function claims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(part + '='.repeat((4 - (part.length % 4)) % 4)), (c) => c.charCodeAt(0));
    const value = JSON.parse(new TextDecoder().decode(bytes));
    return value && typeof value === 'object' ? value : null;
  } catch {
    return null;
  }
}
