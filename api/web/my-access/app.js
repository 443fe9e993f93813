// My Access: the shell (sign-in, navigation, live updates) and the hash router.
import { h, replace, localId } from './dom.js';
import { gql, session, checkToken, claims, REFUSED, GqlError, setUnauthorizedHandler } from './api.js';
import { LiveSocket } from './live.js';
import { packageList, packagePage } from './packages.js';
import { requestHistory, myAccess } from './requests.js';
import { approvals, accessReviews, APPROVAL_FIELDS } from './approvals.js';

const $ = (id) => document.getElementById(id);
const main = $('main');

const ROUTES = {
  'access-packages': (ctx, rest) => (rest ? packagePage(ctx, rest) : packageList(ctx)),
  'request-history': requestHistory,
  'my-access': myAccess,
  approvals,
  'access-reviews': accessReviews,
};

const SUBJECT = 'query { signedInSubject { displayName email objectId } }';

const APPROVAL_CHANGES = `subscription($after: String) {
  approvalStageChanges(after: $after) { cursor kind stageId reason occurredDateTime
    assignmentRequest { ...ApprovalRequest } } } ${APPROVAL_FIELDS}`;

const REVIEW_EVENTS = `subscription($after: String) {
  events(after: $after, filter: { kind: "accessReview." }) { cursor event { kind subjectId } } }`;

const ACTIVITY = `subscription($after: String) {
  assignmentActivity(after: $after) { cursor kind reason
    assignmentRequest { id state status targetId requestorId } assignment { id state targetId } } }`;

let me = null;
let live = null;
let view = null;
let statusTimer = null;

/** Says something in the polite live region (and shows it as a toast). */
function announce(text, tone = 'info') {
  const box = $('status');
  clearTimeout(statusTimer);
  box.dataset.tone = tone;
  box.textContent = '';
  // A fresh text node after clearing makes screen readers announce repeats too.
  requestAnimationFrame(() => { box.textContent = text; });
  statusTimer = setTimeout(() => { box.textContent = ''; }, 6000);
}

/** What every view gets. */
const ctx = {
  main,
  announce,
  get me() { return me; },
  /** Whether a request or assignment activity concerns the signed-in user (administrators hear of all). */
  isMine(activity) {
    const mine = (id) => Boolean(id && me?.id && localId(id) === localId(me.id));
    const r = activity?.assignmentRequest;
    return mine(r?.targetId) || mine(r?.requestorId) || mine(activity?.assignment?.targetId);
  },
  /** Page heading, focusable so a route change can move focus to it. */
  title(text) { return h('h1', { id: 'page-title', tabindex: '-1' }, text); },
  /** A failure shown in place of a page. */
  failure(err) {
    return h('div', { class: 'card error-card', role: 'alert' },
      h('h1', { id: 'page-title', tabindex: '-1' }, 'Something went wrong'),
      h('ul', {}, (err instanceof GqlError ? err.details : [String(err?.message || err)]).map((d) => h('li', {}, d))));
  },
};

function showSignIn(message) {
  disposeView();
  $('nav').hidden = true;
  $('account').hidden = true;
  document.title = 'Sign in – My Access';
  const input = h('textarea', {
    id: 'token-input', name: 'token', rows: '5', autocomplete: 'off', spellcheck: 'false',
    autocapitalize: 'off', 'aria-describedby': 'token-hint signin-error', required: true,
  });
  const error = h('p', { id: 'signin-error', class: 'form-error', role: 'alert' }, message || '');
  error.hidden = !message;
  const button = h('button', { type: 'submit', class: 'primary', id: 'sign-in' }, 'Sign in');
  const form = h('form', { id: 'signin-form', class: 'card signin', novalidate: true },
    ctx.title('Sign in to My Access'),
    h('p', {}, 'Request access to resources, follow your requests, and approve requests addressed to you.'),
    h('label', { for: 'token-input' }, 'Access token'),
    h('p', { id: 'token-hint', class: 'hint' }, 'Paste the bearer token you were given (the demo server prints tokens when it starts). It is kept only for this browser tab.'),
    input, error,
    h('div', { class: 'actions' }, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const fail = (text) => {
      error.textContent = text;
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    };
    const checked = checkToken(input.value);
    if (checked.error) return fail(checked.error);
    button.disabled = true;
    button.textContent = 'Signing in…';
    try {
      const data = await gql(SUBJECT, {}, checked.token);
      session.set(checked.token);
      startSession(checked.token, data.signedInSubject);
      route(true);
    } catch (err) {
      fail(err.status === 401 ? REFUSED : err.message);
    } finally {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  });
  replace(main, h('div', { class: 'signin-wrap' }, form));
}

function startSession(token, subject) {
  const c = claims(token) || {};
  me = {
    id: subject?.objectId || c.oid || c.sub || null,
    name: subject?.displayName || c.name || c.preferred_username || c.sub || 'Local operator',
    email: subject?.email || null,
  };
  replace($('signed-in-user'), h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(me.name)),
    h('span', { class: 'who-name' }, me.name));
  $('signed-in-user').title = me.email ? `${me.name} (${me.email})` : me.name;
  $('account').hidden = false;
  $('nav').hidden = false;
  live?.close();
  live = new LiveSocket(() => session.token, {
    onStatus(state) {
      const el = $('live-status');
      el.dataset.live = state;
      $('live-text').textContent = { live: 'Live', connecting: 'Connecting', reconnecting: 'Reconnecting', refused: 'Offline' }[state] || 'Offline';
      // Whatever happened before the subscriptions were in place (or while the socket was down).
      if (state === 'live') view?.refresh?.();
    },
    async onAuthFailed() {
      try { await gql(SUBJECT); } catch (err) { if (err.status === 401) return; }
      announce('Live updates stopped. Reload the page to resume.', 'warn');
    },
  }).start();
  live.subscribe(APPROVAL_CHANGES, {}, (data) => view?.onApprovalChange?.(data.approvalStageChanges));
  live.subscribe(ACTIVITY, {}, (data) => view?.onActivity?.(data.assignmentActivity));
  live.subscribe(REVIEW_EVENTS, {}, (data) => view?.onReviewEvent?.(data.events.event));
}

function signOut(message) {
  live?.close();
  live = null;
  me = null;
  session.clear();
  showSignIn(message);
  if (!message) announce('You are signed out.');
}

setUnauthorizedHandler(() => signOut(REFUSED));

function initials(name) {
  return String(name).split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('') || '?';
}

function disposeView() {
  view?.dispose?.();
  view = null;
}

/** Renders the page the hash names; `focus` moves focus to its heading. */
async function route(focus = false) {
  const hash = location.hash;
  if (hash && !hash.startsWith('#/')) return; // an in-page anchor (the skip link)
  if (!me) return;
  const [name, ...rest] = hash.slice(2).split('/');
  const key = ROUTES[name] ? name : 'access-packages';
  if (!ROUTES[name] && hash !== '#/access-packages') history.replaceState(null, '', '#/access-packages');
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === key) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  disposeView();
  clearTimeout(statusTimer);
  $('status').textContent = '';
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : '';
  const current = {};
  view = current;
  replace(main, h('p', { class: 'loading' }, 'Loading…'));
  try {
    const made = await ROUTES[key](ctx, arg);
    if (view !== current) { made?.dispose?.(); return; }
    Object.assign(current, made || {});
  } catch (err) {
    if (view !== current || err.status === 401) return;
    replace(main, ctx.failure(err));
  }
  const title = $('page-title');
  document.title = `${title ? title.textContent : 'My Access'} – My Access`;
  if (focus && title) title.focus({ preventScroll: false });
}

$('sign-out').addEventListener('click', () => signOut());
window.addEventListener('hashchange', () => route(true));

(async function boot() {
  const token = session.token;
  if (!token) return showSignIn();
  try {
    const data = await gql(SUBJECT, {}, token);
    startSession(token, data.signedInSubject);
    route(false);
  } catch (err) {
    if (err.status === 401) { session.clear(); return showSignIn(REFUSED); }
    showSignIn(err.message);
  }
})();
