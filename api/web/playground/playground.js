// GraphiQL over this server: queries and mutations to /graphql, subscriptions over /graphql/ws
// (graphql-transport-ws). The headers of GraphiQL's Headers tab go with every request and in the
// WebSocket's connection_init payload; the token field above the editor fills them in for you.
// The token is kept for this tab only (sessionStorage), never in localStorage.
(function () {
  const KEY = 'em.playground.token';
  const MAX_TOKEN = 8192;
  const socket = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws';
  const inner = GraphiQL.createFetcher({ url: location.origin + '/graphql', subscriptionUrl: socket });
  const signedIn = (headers) =>
    Object.entries(headers || {}).some(([k, v]) => k.toLowerCase() === 'authorization' && /\S+\s+\S+/.test(String(v)));
  // Without a token the server answers 401: say what to do instead of asking it.
  const fetcher = (params, options) => signedIn(options && options.headers)
    ? inner(params, options)
    : Promise.resolve({ errors: [{ message: 'Sign in first: paste a bearer token in the field above (or {"Authorization": "Bearer <token>"} in Headers).' }] });

  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  const status = document.getElementById('token-status');
  const field = document.getElementById('token');
  let mounted = 0;

  function render(token) {
    const headers = token ? JSON.stringify({ Authorization: 'Bearer ' + token }, null, 2) : '{\n  "Authorization": "Bearer "\n}';
    mounted += 1;
    // A new key mounts GraphiQL anew, so it fetches the schema with the new token.
    root.render(React.createElement(GraphiQL, {
      key: mounted, fetcher, defaultHeaders: headers, headers, defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: false,
    }));
  }

  /** What is wrong with `token`, or null: a JWT is three base64url parts. */
  function problem(token) {
    if (token.length > MAX_TOKEN) return 'This token is too long (over 8 KB): paste the token alone.';
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
      return 'This is not a bearer token: expected three parts separated by dots (eyJ….eyJ….…).';
    }
    return null;
  }

  document.getElementById('sign-in').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = field.value.trim().replace(/^Bearer\s+/i, '');
    const wrong = problem(token);
    status.textContent = wrong || '';
    if (wrong) { field.focus(); return; }
    sessionStorage.setItem(KEY, token);
    render(token);
  });

  const kept = sessionStorage.getItem(KEY);
  if (kept) field.value = kept;
  render(kept && !problem(kept) ? kept : null);
})();
