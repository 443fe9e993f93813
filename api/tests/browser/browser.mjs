// What the browser tests share: Debian's Chromium started the way this closed network needs,
// and a watch over a context's traffic and a page's console.
import { chromium } from 'playwright-core';

export function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exit(1);
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30000,
  });
}

/// Counts the requests of `context` to hosts other than `base`'s, the bytes `page` received over
/// the network (compressed, as sent: CDP's encodedDataLength), and console errors and failed
/// scripts (a Content-Security-Policy violation is a console error).
export async function watch(context, page, base) {
  const host = new URL(base).host;
  const external = [];
  const errors = [];
  let requests = 0;
  let bytes = 0;
  context.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol === 'data:' || url.protocol === 'blob:') return;
    requests += 1;
    if (url.host !== host) external.push(request.url());
  });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  return {
    external: () => external.length,
    requests: () => requests,
    bytes: () => bytes,
    errors: () => errors,
    assertClean() {
      if (external.length) fail(`requests to other hosts: ${external.join(', ')}`);
      if (errors.length) fail(`console errors: ${errors.join(' | ')}`);
    },
  };
}

/// A GraphQL call from the test itself (not the page): its data, or a failure.
export async function graphql(base, token, query, variables = {}) {
  const response = await fetch(base + '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) fail(`${query.slice(0, 60)}…: ${JSON.stringify(body.errors)}`);
  return body.data;
}
