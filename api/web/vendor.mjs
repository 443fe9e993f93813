// Copies the playground's third-party assets (GraphiQL and React, MIT) from the packages pinned in
// api/tests/browser/package-lock.json into api/web/playground/vendor/, where the build embeds them.
//
//   cd api/tests/browser && npm ci && node ../../web/vendor.mjs
//
// With `--check NODE_MODULES` it copies nothing and fails unless every committed copy is byte for
// byte the file of the packages installed there (the browser tests run it).
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, '../tests/browser/node_modules');
const vendor = join(here, 'playground/vendor');

export const FILES = [
  ['graphiql/graphiql.min.js', 'graphiql.min.js'],
  ['graphiql/graphiql.min.css', 'graphiql.min.css'],
  ['graphiql/LICENSE', 'LICENSE-graphiql'],
  ['react/umd/react.production.min.js', 'react.production.min.js'],
  ['react/LICENSE', 'LICENSE-react'],
  ['react-dom/umd/react-dom.production.min.js', 'react-dom.production.min.js'],
  ['react-dom/LICENSE', 'LICENSE-react-dom'],
];

if (process.argv[2] === '--check') {
  const installed = process.argv[3];
  const differ = FILES.filter(([from, to]) =>
    !readFileSync(join(installed, from)).equals(readFileSync(join(vendor, to))));
  if (differ.length) {
    console.error(`vendored files differ from the pinned packages: ${differ.map(([f]) => f).join(', ')}`);
    process.exit(1);
  }
  console.log(`vendor: ${FILES.length} files are the pinned packages' own`);
} else {
  mkdirSync(vendor, { recursive: true });
  for (const [from, to] of FILES) {
    copyFileSync(join(modules, from), join(vendor, to));
    console.log(`${from} -> playground/vendor/${to}`);
  }
}
