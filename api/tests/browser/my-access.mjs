// Browser test of the My Access pages (api/web/my-access), on Debian's Chromium through
// playwright-core. Sets up a catalog, a package and its policy over GraphQL, then: Adele requests
// through the page, Christie and Megan see the request arrive live, Christie approves, Megan's page
// shows it decided (timed), Adele sees it delivered live and the package under "My access".
//
//   cd api/tests/browser && ADMIN_TOKEN=... ADELE_TOKEN=... CHRISTIE_TOKEN=... \
//     node my-access.mjs http://127.0.0.1:4417 /tmp/my-access-shots
//
// Prints one line `my-access: {json}` and exits 0, or says what failed and exits 1.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

const [baseArg, shotDir] = process.argv.slice(2);
const { ADMIN_TOKEN, ADELE_TOKEN, CHRISTIE_TOKEN } = process.env;
if (!baseArg || !shotDir || !ADMIN_TOKEN || !ADELE_TOKEN || !CHRISTIE_TOKEN) {
  console.error('usage: ADMIN_TOKEN=.. ADELE_TOKEN=.. CHRISTIE_TOKEN=.. node my-access.mjs <base-url> <screenshot-dir>');
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, '');
const baseHost = new URL(base).host;
const app = `${base}/my-access/`;
const WAIT = 10_000;
const CHRISTIE = '00000000-0000-0000-0000-0000000000a2';
const MEGAN = '00000000-0000-0000-0000-0000000000a3';
const GROUP = '00000000-0000-0000-0001-000000000001';
const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let browser;
let step = 'start';
const fail = async (message) => {
  console.error(`my-access: FAILED at ${step}: ${message}`);
  await browser?.close().catch(() => {});
  process.exit(1);
};
const deadline = setTimeout(() => fail('the test took longer than 85 s'), 85_000);
const expect = (cond, message) => { if (!cond) throw new Error(message); };

async function gql(token, query, variables = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(WAIT),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || body.errors) throw new Error(`GraphQL ${res.status}: ${JSON.stringify(body.errors || body)}`);
  return body.data;
}
const local = (id) => String(id).replace(/^[A-Za-z]+:/, '');

/** Catalog, resource, package (Member role of a demo group), policy; a hidden package only Christie may request. */
async function setUp() {
  const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const { createCatalog } = await gql(ADMIN_TOKEN, `mutation($name: String!) {
    createCatalog(input: { displayName: $name, description: "My Access browser test" }) { catalog { id } } }`,
  { name: `My Access test ${run}` });
  const catalog = createCatalog.catalog.id;
  const { createResourceRequest } = await gql(ADMIN_TOKEN, `mutation($catalog: ID!, $group: String!) {
    createResourceRequest(input: { catalogId: $catalog, requestType: adminAdd,
      resource: { originSystem: AadGroup, originId: $group } }) { resource { id displayName } } }`, { catalog, group: GROUP });
  const resource = createResourceRequest.resource;
  const made = await gql(ADMIN_TOKEN, `mutation($catalog: ID!, $name: String!, $hidden: String!) {
    p: createAccessPackage(input: { catalogId: $catalog, displayName: $name,
      description: "Membership of the Sales and Marketing team for campaign work" }) { accessPackage { id } }
    h: createAccessPackage(input: { catalogId: $catalog, displayName: $hidden, isHidden: true,
      description: "SECRET hidden package" }) { accessPackage { id } } }`,
  { catalog, name: `Sales workspace ${run}`, hidden: `Hidden vault ${run}` });
  const pkg = made.p.accessPackage.id;
  const hidden = made.h.accessPackage.id;
  await gql(ADMIN_TOKEN, `mutation($pkg: ID!, $res: ID!, $role: String!) {
    addAccessPackageResourceRoleScope(input: { accessPackageId: $pkg, resourceId: $res, roleOriginId: $role }) {
      resourceRoleScope { id } } }`, { pkg, res: resource.id, role: `Member_${GROUP}` });
  const policy = {
    displayName: 'Members request, Christie or Megan approves',
    allowedTargetScope: 'allMemberUsers',
    requestorSettings: { enableTargetsToSelfAddAccess: true, enableTargetsToSelfUpdateAccess: true },
    requestApprovalSettings: {
      isApprovalRequiredForAdd: true, isRequestorJustificationRequired: true,
      stages: [{ durationBeforeAutomaticDenial: 'P14D', primaryApprovers: [
        { type: 'singleUser', userId: CHRISTIE }, { type: 'singleUser', userId: MEGAN }] }],
    },
    questions: [{ type: 'accessPackageTextInputQuestion', text: 'Cost center?', isRequired: true,
      isSingleLineQuestion: true, regexPattern: '^[0-9]{4}$' }],
    expiration: { type: 'afterDuration', duration: 'P30D' },
  };
  const { createAssignmentPolicy } = await gql(ADMIN_TOKEN, `mutation($pkg: ID!, $policy: AccessPackageAssignmentPolicyInput!) {
    createAssignmentPolicy(input: { accessPackageId: $pkg, policy: $policy }) {
      assignmentPolicy { id questions { id } } } }`, { pkg, policy });
  await gql(ADMIN_TOKEN, `mutation($pkg: ID!, $christie: String!) {
    createAssignmentPolicy(input: { accessPackageId: $pkg, policy: { displayName: "Christie only",
      allowedTargetScope: specificDirectoryUsers, specificAllowedTargets: [{ type: singleUser, userId: $christie }],
      requestorSettings: { enableTargetsToSelfAddAccess: true } } }) { assignmentPolicy { id } } }`,
  { pkg: hidden, christie: CHRISTIE });
  return {
    run, pkg, hidden, name: `Sales workspace ${run}`, hiddenName: `Hidden vault ${run}`,
    question: createAssignmentPolicy.assignmentPolicy.questions[0].id,
    policyId: createAssignmentPolicy.assignmentPolicy.id, policy,
  };
}

const externalRequests = [];
const problems = [];
const screenshots = [];

async function newContext(label, viewport = { width: 1280, height: 800 }, allow401 = false) {
  const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'UTC' });
  context.setDefaultTimeout(WAIT);
  const external = (url) => {
    const u = new URL(url);
    if (['data:', 'blob:', 'about:'].includes(u.protocol)) return;
    if (u.host !== baseHost) externalRequests.push(`${label}: ${url}`);
  };
  context.on('request', (r) => external(r.url()));
  context.on('page', (page) => {
    page.on('websocket', (ws) => external(ws.url()));
    page.on('pageerror', (e) => problems.push(`${label}: page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      if (allow401 && /status of 401/.test(m.text())) return;
      problems.push(`${label}: console error: ${m.text()}`);
    });
  });
  const page = await context.newPage();
  return { context, page };
}

async function shot(page, name) {
  const file = join(shotDir, `${name}.png`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: true });
  screenshots.push(file);
}

async function signIn(page, token, name) {
  await page.goto(app);
  await page.waitForSelector('#signin-form');
  await page.fill('#token-input', token);
  await page.click('#sign-in');
  await page.waitForFunction((n) => document.querySelector('#signed-in-user')?.textContent.includes(n), name);
  await page.waitForSelector('#page-title');
}

async function main() {
  mkdirSync(shotDir, { recursive: true });
  step = 'set-up over GraphQL';
  const t = await setUp();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: WAIT });

  // Adele's first load: count the bytes of the page's own files.
  step = 'first load';
  const A = await newContext('adele');
  const cdp = await A.context.newCDPSession(A.page);
  await cdp.send('Network.enable');
  const urls = new Map();
  let firstLoadBytes = 0;
  let counting = true;
  cdp.on('Network.responseReceived', (e) => urls.set(e.requestId, e.response.url));
  cdp.on('Network.loadingFinished', (e) => {
    if (counting && new URL(urls.get(e.requestId) || 'about:blank').pathname.startsWith('/my-access/')) firstLoadBytes += e.encodedDataLength;
  });
  await A.page.goto(app, { waitUntil: 'networkidle' });
  await A.page.waitForSelector('#signin-form');
  counting = false;
  expect(firstLoadBytes > 0, 'the first load transferred nothing');
  await shot(A.page, 'sign-in');

  step = 'approvers sign in';
  const B = await newContext('christie');
  const C = await newContext('megan');
  await signIn(B.page, CHRISTIE_TOKEN, 'Christie Cline');
  await signIn(C.page, ADMIN_TOKEN, 'Megan Bowen');
  for (const p of [B.page, C.page]) {
    await p.click('a[data-nav="approvals"]');
    await p.waitForSelector('#approval-list', { state: 'attached' });
    await p.waitForFunction(() => document.querySelector('#live-status')?.dataset.live === 'live');
    await p.evaluate(() => { window.__noReload = true; });
  }

  step = 'Adele requests the package';
  await A.page.fill('#token-input', ADELE_TOKEN);
  await A.page.click('#sign-in');
  await A.page.waitForFunction(() => document.querySelector('#signed-in-user')?.textContent.includes('Adele Vance'));
  await A.page.waitForSelector(`#package-list [data-package-id="${local(t.pkg)}"]`);
  const listed = await A.page.textContent('#package-list');
  expect(!listed.includes(t.hiddenName), 'the hidden package is listed');
  const resource = await A.page.textContent(`#package-list [data-package-id="${local(t.pkg)}"] .role-resource`);
  expect(resource.includes('Sales and Marketing'), 'the package list does not show its resource');
  await shot(A.page, 'packages');
  await A.page.goto(`${app}#/access-packages/${local(t.pkg)}`);
  await A.page.waitForSelector('#request-form');
  expect((await A.page.textContent('#package-details')).includes(t.name), 'the package page lacks the package name');
  await A.page.click('#submit-request');
  await A.page.waitForSelector('#request-errors:not([hidden])');
  await A.page.fill('#justification', 'Q3 campaign planning with the EMEA team');
  await A.page.fill(`[data-question-id="${t.question}"]`, '4711');
  await shot(A.page, 'request-form');
  await A.page.click('#submit-request');
  const submitted = await A.page.waitForSelector('#request-submitted');
  const requestId = await submitted.getAttribute('data-request-id');
  expect((await submitted.getAttribute('data-state')) === 'pendingApproval', 'the request is not pending approval');
  await A.page.click('a[data-nav="request-history"]');
  await A.page.waitForSelector(`#request-list [data-request-id="${requestId}"][data-state="pendingApproval"]`);
  await A.page.evaluate(() => { window.__noReload = true; });
  await shot(A.page, 'request-history');

  step = 'the request appears live to both approvers';
  const item = `#approval-list [data-request-id="${requestId}"]`;
  for (const p of [B.page, C.page]) {
    await p.waitForSelector(`${item}[data-state="pending"]`);
    expect(await p.evaluate(() => window.__noReload === true), 'an approvals page reloaded');
    const text = await p.textContent(item);
    expect(text.includes('Adele Vance') && text.includes('Q3 campaign planning') && text.includes('4711'),
      `the approval item lacks requestor, justification or answer: ${text}`);
  }
  await shot(B.page, 'approvals');

  step = 'Christie approves; Megan sees it decided';
  await C.page.evaluate((id) => {
    const check = () => {
      const el = document.querySelector(`#approval-list [data-request-id="${id}"]`);
      if (el && el.dataset.state === 'decided' && !window.__decidedAt) window.__decidedAt = Date.now();
    };
    new MutationObserver(check).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
  }, requestId);
  await B.page.fill(`${item} textarea`, 'Approved for the Q3 campaign');
  const clickedAt = await B.page.evaluate((sel) => {
    const button = document.querySelector(`${sel} [data-action="approve"]`);
    const at = Date.now();
    button.click();
    return at;
  }, item);
  await C.page.waitForFunction(() => window.__decidedAt > 0);
  const approvalSeenMs = (await C.page.evaluate(() => window.__decidedAt)) - clickedAt;
  await B.page.waitForSelector(`${item}[data-state="decided"]`);
  const megan = await C.page.textContent(item);
  expect(megan.includes('Christie Cline'), `Megan's page does not say who decided: ${megan}`);
  await shot(C.page, 'approvals-decided');

  step = 'Adele sees the request delivered and her access';
  await A.page.waitForSelector(`#request-list [data-request-id="${requestId}"][data-state="delivered"]`);
  expect(await A.page.evaluate(() => window.__noReload === true), "Adele's page reloaded");
  await A.page.click('a[data-nav="my-access"]');
  const assignment = await A.page.waitForSelector(`#assignment-list [data-state="delivered"]:has-text("${t.name}")`);
  const end = await assignment.$eval('.end-date', (e) => e.textContent);
  expect(/\d{4}/.test(end), `the assignment shows no end date: ${end}`);
  expect(await assignment.$('[data-action="extend"]'), 'no "Request extension" although the policy allows it');
  await shot(A.page, 'my-access');
  await assignment.$eval('[data-action="extend"]', (b) => b.click());
  await A.page.fill('#assignment-list form[data-form="extend"] textarea', 'The campaign runs into January');
  await A.page.click('#assignment-list form[data-form="extend"] button[type="submit"]');
  await A.page.waitForSelector('#assignment-list .note');
  await A.page.goto(`${app}#/access-packages/${local(t.pkg)}`);
  await A.page.waitForSelector('#request-unavailable:has-text("already have this access package")');

  step = 'access review';
  await B.page.click('a[data-nav="access-reviews"]');
  await B.page.waitForSelector('#review-list', { state: 'attached' });
  const start = new Date(Date.now() + 2000).toISOString();
  await gql(ADMIN_TOKEN, `mutation($id: ID!, $policy: AccessPackageAssignmentPolicyInput!) {
    updateAssignmentPolicy(input: { id: $id, policy: $policy }) { assignmentPolicy { id } } }`, {
    id: t.policyId,
    policy: { ...t.policy, reviewSettings: { isEnabled: true, isReviewerJustificationRequired: true,
      primaryReviewers: [{ type: 'singleUser', userId: CHRISTIE }],
      schedule: { startDateTime: start, expiration: { type: 'afterDuration', duration: 'P3D' },
        recurrence: { pattern: { type: 'weekly', interval: 1 }, range: { type: 'noEnd', startDate: start.slice(0, 10) } } } } },
  });
  const review = `#review-list [data-package-id="${local(t.pkg)}"]:has-text("Adele Vance")`;
  await B.page.waitForSelector(review);
  expect((await B.page.textContent(review)).includes(t.name), 'the review item does not name the package');
  expect((await B.page.textContent(review)).includes('Review ends'), 'the review item does not say when the review ends');
  await B.page.fill(`${review} textarea`, 'Still runs the campaign');
  await B.page.click(`${review} [data-decision="Approve"]`);
  await B.page.waitForSelector(`${review}[data-decision="Approve"]`);
  await shot(B.page, 'access-reviews');

  step = 'not found';
  await A.page.goto(`${app}#/access-packages/${randomUUID()}`);
  await A.page.waitForSelector('#not-found');
  await shot(A.page, 'not-found');
  await A.page.goto(`${app}#/access-packages/${local(t.hidden)}`);
  await A.page.waitForSelector('#not-found');
  const hiddenText = await A.page.textContent('main');
  expect(!hiddenText.includes(t.hiddenName) && !hiddenText.includes('SECRET'), 'the hidden package leaks details');
  await B.page.goto(`${app}#/access-packages/${local(t.hidden)}`);
  await B.page.waitForSelector('#request-form');

  step = 'bad tokens';
  const E = await newContext('signed-out', undefined, true);
  const graphqlCalls = [];
  E.page.on('request', (r) => { if (r.url().includes('/graphql')) graphqlCalls.push(r.url()); });
  await E.page.goto(app);
  await E.page.waitForSelector('#signin-form');
  const tryToken = async (token) => {
    await E.page.fill('#token-input', token);
    await E.page.click('#sign-in');
    await E.page.waitForSelector('#signin-error:not([hidden])');
    return E.page.textContent('#signin-error');
  };
  const malformed = await tryToken('this is not a token');
  expect(/three base64url parts/.test(malformed), `malformed token message: ${malformed}`);
  await shot(E.page, 'sign-in-malformed');
  const oversized = await tryToken(`${'a'.repeat(6000)}.${'b'.repeat(6000)}.c`);
  expect(/too large/.test(oversized), `oversized token message: ${oversized}`);
  expect(graphqlCalls.length === 0, 'a malformed or oversized token reached the server');
  await E.page.fill('#token-input', '');
  const forged = `${ADELE_TOKEN.split('.').slice(0, 2).join('.')}.${'A'.repeat(43)}`;
  await E.page.fill('#token-input', forged);
  await E.page.click('#sign-in');
  await E.page.waitForFunction(() => /was refused/.test(document.querySelector('#signin-error')?.textContent || ''));

  step = 'phone';
  const P = await newContext('phone', { width: 375, height: 812 });
  await signIn(P.page, ADELE_TOKEN, 'Adele Vance');
  await P.page.waitForSelector('#package-list', { state: 'attached' });
  const width = await P.page.evaluate(() => document.documentElement.scrollWidth);
  expect(width <= 375, `the phone page scrolls horizontally (${width}px)`);
  await shot(P.page, 'phone');
  await P.page.click('a[data-nav="request-history"]');
  await P.page.waitForSelector(`#request-list [data-request-id="${requestId}"]`);
  const width2 = await P.page.evaluate(() => document.documentElement.scrollWidth);
  expect(width2 <= 375, `the phone request history scrolls horizontally (${width2}px)`);
  await shot(P.page, 'phone-history');

  step = 'keyboard, reload and sign-out';
  await P.page.reload();
  await P.page.waitForSelector(`#request-list [data-request-id="${requestId}"]`);
  await P.page.evaluate(() => document.activeElement?.blur());
  await P.page.keyboard.press('Tab');
  expect(await P.page.evaluate(() => document.activeElement?.classList.contains('skip-link')), 'Tab does not reach the skip link first');
  const tabbed = [];
  for (let i = 0; i < 12; i++) {
    await P.page.keyboard.press('Tab');
    const focused = await P.page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      return { nav: el.dataset.nav || '', what: `${el.tagName.toLowerCase()}#${el.id}.${el.className}`, outline: getComputedStyle(el).outlineStyle };
    });
    if (!focused) break; // past the last focusable element
    tabbed.push(focused);
  }
  const navReached = tabbed.filter((x) => x.nav).map((x) => x.nav);
  expect(navReached.length === 5, `Tab does not reach every navigation link: ${navReached}`);
  const unmarked = tabbed.filter((x) => x.outline === 'none').map((x) => x.what);
  expect(unmarked.length === 0, `focused elements without a focus outline: ${unmarked}`);
  await P.page.focus('a[data-nav="my-access"]');
  await P.page.keyboard.press('Enter');
  await P.page.waitForSelector('#assignment-list [data-assignment-id]');
  expect(await P.page.evaluate(() => document.activeElement?.id === 'page-title'), 'focus does not move to the new page heading');
  await P.page.click('#sign-out');
  await P.page.waitForSelector('#signin-form');
  expect(await P.page.evaluate(() => sessionStorage.length === 0), 'sign-out leaves the token in sessionStorage');

  step = 'checks';
  expect(externalRequests.length === 0, `requests to other hosts: ${externalRequests.join(', ')}`);
  expect(problems.length === 0, problems.join('\n'));
  return { ok: true, approvalSeenMs, externalRequests: externalRequests.length, firstLoadBytes, screenshots };
}

try {
  const result = await main();
  clearTimeout(deadline);
  await browser.close();
  console.log(`my-access: ${JSON.stringify(result)}`);
  process.exit(0);
} catch (err) {
  clearTimeout(deadline);
  await fail(err?.message || String(err));
}
