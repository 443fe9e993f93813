// The playground in Debian's Chromium: the page loads from this server alone, a query sent with
// the token typed in the Headers tab returns data, and a subscription over /graphql/ws receives
// the event a mutation causes.
//
//   node playground.mjs <base-url> <screenshot-dir>     (env ADMIN_TOKEN)
//
// Prints one line `playground: {json}` and exits 0, or says what failed and exits 1.
import { launch, watch, fail, graphql } from './browser.mjs';

const [base, shots] = process.argv.slice(2);
const token = process.env.ADMIN_TOKEN;
if (!base || !shots || !token) fail('usage: ADMIN_TOKEN=... node playground.mjs <base-url> <screenshot-dir>');

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const seen = await watch(context, page, base);
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: 20000 });
  await page.waitForLoadState('networkidle');
  const firstLoadBytes = seen.bytes();
  const firstLoadRequests = seen.requests();

  // The editors are CodeMirror 5 instances: set their text, then press the run button.
  const setEditor = (selector, text) =>
    page.evaluate(([s, t]) => document.querySelector(s).CodeMirror.setValue(t), [selector, text]);
  const response = () => page.evaluate(() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue());
  // A malformed token is refused in the page; a real one signs GraphiQL in.
  await page.fill('#token', 'not-a-token');
  await page.click('#sign-in button[type=submit]');
  const refusal = await page.textContent('#token-status');
  if (!/not a bearer token/.test(refusal)) fail(`a malformed token showed ${JSON.stringify(refusal)}`);
  await page.fill('#token', 'x'.repeat(9000));
  await page.click('#sign-in button[type=submit]');
  if (!/too long/.test(await page.textContent('#token-status'))) fail('an oversized token was not refused');
  await page.fill('#token', token);
  await page.click('#sign-in button[type=submit]');
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: 20000 });
  await setEditor('.graphiql-query-editor .CodeMirror', '{ users(first: 3) { nodes { displayName } } clock { now } }');
  await page.waitForTimeout(300);
  await page.click('.graphiql-execute-button');
  await page.waitForFunction(
    () => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue().includes('displayName'),
    null, { timeout: 15000 });
  const queried = JSON.parse(await response());
  if (!queried.data || queried.data.users.nodes.length !== 3) fail(`the query answered ${JSON.stringify(queried)}`);
  await page.screenshot({ path: `${shots}/playground-query.png` });

  // A subscription, then a mutation from outside the page: its event reaches the page.
  await setEditor('.graphiql-query-editor .CodeMirror',
    'subscription Catalogs { events(filter: { kind: "catalog.created" }) { cursor event { kind subjectId } } }');
  await page.waitForTimeout(300);
  await page.click('.graphiql-execute-button');
  await page.waitForFunction(() => [...document.querySelectorAll('.graphiql-execute-button')]
    .some((b) => /stop|cancel/i.test(b.getAttribute('aria-label') || '')), null, { timeout: 10000 }).catch(() => {});
  // The subscription is live once the server acknowledged it: give the socket a moment.
  await page.waitForTimeout(500);
  const name = `Playground ${Date.now()}`;
  const created = await graphql(base, token,
    'mutation($name: String!) { createCatalog(input: { displayName: $name }) { catalog { id } } }', { name });
  const catalogId = created.createCatalog.catalog.id.split(':').pop();
  await page.waitForFunction((id) => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue().includes(id),
    catalogId, { timeout: 15000 }).catch(async (e) => {
    await page.screenshot({ path: `${shots}/playground-failed.png` });
    fail(`the subscription did not show the event: ${await response()} (console: ${seen.errors().join(' | ')})`);
  });
  const event = JSON.parse(await response());
  if (event.data?.events?.event?.kind !== 'catalog.created' || event.data.events.event.subjectId !== catalogId) {
    fail(`the subscription received ${JSON.stringify(event)}`);
  }
  await page.screenshot({ path: `${shots}/playground-subscription.png` });

  seen.assertClean();
  console.log('playground: ' + JSON.stringify({
    ok: true, externalRequests: seen.external(), firstLoadBytes, firstLoadRequests,
    screenshots: ['playground-query.png', 'playground-subscription.png'],
  }));
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
