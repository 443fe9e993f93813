// Small DOM helpers: every text goes through textContent (never innerHTML), no inline styles.

/** Creates an element: h('a', { href, class, onclick, dataset: {...} }, ...children). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A unique element id with a prefix (for label/for and aria-describedby pairs). */
export const nextId = (prefix) => `${prefix}-${++uid}`;

/** A date and time in the reader's locale, or a dash. */
export function when(value, withTime = true) {
  if (!value) return '—';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(undefined, withTime ? { dateStyle: 'medium', timeStyle: 'short' } : { dateStyle: 'medium' });
}

/** `pendingApproval` -> `Pending approval`, `PendingApprovalEscalated` -> `Pending approval escalated`. */
export function words(value) {
  if (!value) return '';
  const spaced = String(value).replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

/** ISO 8601 duration (`P30D`, `PT8H`, `P1Y2M`) in words. */
export function duration(iso) {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(iso || '');
  if (!m) return iso || '';
  const names = ['year', 'month', 'week', 'day', 'hour', 'minute', 'second'];
  const parts = names
    .map((name, i) => [Number(m[i + 1] || 0), name])
    .filter(([n]) => n > 0)
    .map(([n, name]) => `${n} ${name}${n === 1 ? '' : 's'}`);
  return parts.join(' ') || '0 days';
}

/** What a policy's expiration means for the requestor. */
export function expirationText(expiration) {
  if (!expiration) return 'Set by the policy';
  switch (expiration.type) {
    case 'afterDuration': return `Access lasts ${duration(expiration.duration)}`;
    case 'afterDateTime': return `Access ends on ${when(expiration.endDateTime, false)}`;
    case 'noExpiration': return 'Access does not expire';
    default: return 'Set by the policy';
  }
}

const TONES = {
  delivered: 'ok', Delivered: 'ok', Approved: 'ok', Approve: 'ok', approved: 'ok',
  denied: 'bad', Denied: 'bad', Deny: 'bad', deliveryFailed: 'bad', canceled: 'muted', Canceled: 'muted',
  expired: 'muted', Expired: 'bad', partiallyDelivered: 'warn',
};

/** A status pill. */
export function badge(value, tone) {
  const t = tone || TONES[value] || (/pending|submitted|scheduled|delivering|InProgress|NotReviewed/i.test(value) ? 'warn' : 'info');
  return h('span', { class: `badge badge-${t}` }, words(value));
}

/** The Graph id behind a global id (`AccessPackage:1234` -> `1234`). */
export const localId = (id) => String(id || '').replace(/^[A-Za-z]+:/, '');

/** Server prose made readable: `code` quotes dropped, ISO timestamps in the reader's locale. */
export function humanize(text) {
  return String(text || '')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/g, (iso) => when(iso));
}

/** Runs `fn` at most once per `ms`, trailing; `.cancel()` drops a run pending. */
export function debounce(fn, ms) {
  let t = null;
  const run = () => { clearTimeout(t); t = setTimeout(fn, ms); };
  run.cancel = () => clearTimeout(t);
  return run;
}
